namespace Tern.Tools.Mcp;

/// <summary>
/// A stdio server's stdout as the MCP transport reads it, one JSON-RPC message per line: a line longer than the cap
/// (a flood, or a message no tool result needs) ends the stream and calls <c>overflow</c>, which kills the server,
/// instead of growing the reader's buffer without bound.
/// </summary>
internal sealed class LineCappedStream(Stream inner, int maxLineBytes, Action overflow) : Stream
{
    private long _lineBytes;
    private bool _over;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(buffer.AsSpan(offset, inner.Read(buffer, offset, count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_over)
        {
            return 0;
        }

        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Count(buffer.Span[..read]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(Span<byte> data)
    {
        bool over = _over;
        var rest = data;
        int newline;
        while (!over && (newline = rest.IndexOf((byte)'\n')) >= 0)
        {
            over = _lineBytes + newline > maxLineBytes;
            _lineBytes = 0;
            rest = rest[(newline + 1)..];
        }

        _lineBytes += rest.Length;
        if (!over && _lineBytes <= maxLineBytes)
        {
            return data.Length;
        }

        if (!_over)
        {
            _over = true;
            overflow();
        }

        return 0;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
