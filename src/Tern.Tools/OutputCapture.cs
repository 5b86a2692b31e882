using System.Text;

namespace Tern.Tools;

/// <summary>
/// Collects a command's stdout and stderr (in arrival order) up to a cap: the first half and the last half of the
/// cap are kept, the middle is counted and dropped, so a flood of output costs no memory and the end (where errors
/// usually are) survives. Thread-safe: both pipes write into it.
/// </summary>
internal sealed class OutputCapture
{
    private readonly object _gate = new();
    private readonly byte[] _head;
    private readonly byte[] _tail;
    private int _headLength;
    private long _tailWritten;

    public OutputCapture(int maxBytes)
    {
        _head = new byte[maxBytes / 2];
        _tail = new byte[maxBytes - _head.Length];
    }

    public long TotalBytes { get; private set; }

    public bool WasCut => TotalBytes > _head.Length + _tail.Length;

    public void Append(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            TotalBytes += data.Length;
            int toHead = Math.Min(data.Length, _head.Length - _headLength);
            data[..toHead].CopyTo(_head.AsSpan(_headLength));
            _headLength += toHead;
            data = data[toHead..];
            if (data.Length > _tail.Length)
            {
                _tailWritten += data.Length - _tail.Length;
                data = data[^_tail.Length..];
            }

            foreach (byte b in data)
            {
                _tail[(int)(_tailWritten++ % _tail.Length)] = b;
            }
        }
    }

    /// <summary>The kept text, with a marker where the middle was dropped.</summary>
    public string Render()
    {
        lock (_gate)
        {
            var text = new StringBuilder(Encoding.UTF8.GetString(_head, 0, _headLength));
            int tailLength = (int)Math.Min(_tailWritten, _tail.Length);
            if (WasCut)
            {
                text.Append($"\n[... {TotalBytes - _head.Length - _tail.Length} bytes of output omitted ...]\n");
            }

            var tail = new byte[tailLength];
            for (int i = 0; i < tailLength; i++)
            {
                tail[i] = _tail[(int)((_tailWritten - tailLength + i) % _tail.Length)];
            }

            text.Append(Encoding.UTF8.GetString(tail));
            return text.ToString();
        }
    }
}
