using System.Buffers;
using System.Collections.Concurrent;
using Tern.Models;

namespace Tern.Runtime.Serving;

/// <summary>Where the prefix cache keeps KV blocks on disk (--cache-dir, --cache-disk-size).</summary>
public sealed record DiskCacheOptions
{
    /// <summary>The folder; each model keeps its blocks in a subfolder named by its identity, so models share it.</summary>
    public required string Directory { get; init; }

    /// <summary>Most bytes of this model's block files; the least recently used go first.</summary>
    public required long MaxBytes { get; init; }

    /// <summary>Most bytes of blocks waiting for the writer; a block that finds the queue full is not written then
    /// (it is offered again when it leaves RAM).</summary>
    public long QueueBytes { get; init; } = 64L << 20;

    /// <summary>Told once, when an I/O error or a full disk turns the tier off (and when a model cannot use it).</summary>
    public Action<string>? Warn { get; init; }
}

/// <summary>Counters of the disk tier of the prefix cache.</summary>
/// <param name="Pending">Blocks queued for the writer.</param>
/// <param name="Skipped">Blocks not queued because the queue was full.</param>
/// <param name="Rejected">Files deleted unread: temporary, cut short, of another layout, or failing their checksum.</param>
public sealed record DiskCacheStats(bool Enabled, int Files, long Bytes, int Pending, long Writes, long WrittenBytes, long Skipped, long Evictions, long Errors, long Rejected);

/// <summary>
/// The disk tier of the prefix cache: one file per KV block (a <see cref="BlockRecord"/>), named by the block's key,
/// in a folder of the model's own (named by its identity, KV types and block size). Writes go through a bounded queue to a background writer (a decoding step never
/// waits on the disk), each to a temporary name first and then renamed, so a crash never leaves half a file under a
/// real name. At start the index is rebuilt from the folder's headers: temporary files, and files of another layout
/// (model, KV types, block size) or cut short, are deleted. A record that fails its checksum when loaded is deleted
/// and is a miss. The files are bounded by <see cref="DiskCacheOptions.MaxBytes"/>, least recently used deleted
/// first. Any I/O error (a full disk, a folder gone or read-only) turns the tier off with one warning; serving goes
/// on without it. Thread-safe: the engine's loop reads and queues, the writer thread writes and deletes.
/// </summary>
internal sealed class DiskCache : IDisposable
{
    private const string Extension = ".blk", TempExtension = ".tmp";

    private readonly string _dir;
    private readonly byte[] _layout;
    private readonly StateCache _state;
    private readonly DiskCacheOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, LinkedListNode<(ulong Hash, long Bytes, bool Checkpoint)>> _files = [];
    private readonly LinkedList<(ulong Hash, long Bytes, bool Checkpoint)> _lru = []; // least recently used first
    private readonly Dictionary<ulong, (int Jobs, bool Checkpoint)> _queued = []; // a block queued again with its checkpoint: two jobs
    private readonly BlockingCollection<(BlockHeader Header, byte[] Body)> _queue;
    private readonly Thread _writer;
    private long _bytes, _writes, _writtenBytes, _skipped, _evictions, _errors, _rejected, _temp;
    private volatile bool _enabled = true;

    public DiskCache(DiskCacheOptions options, UInt128 model, StateCache state)
    {
        _options = options;
        _state = state;
        _layout = BlockRecord.Layout(model, state);
        // A folder per model and KV layout: engines of other models or KV types sharing the directory keep their files.
        _dir = Path.Combine(options.Directory, $"{model:x32}-{KvCache.Name(state.KeyType)}-{KvCache.Name(state.ValueType)}-{state.BlockTokens}");
        long blockBytes = Math.Max(1, state.Groups.Sum(g => g.Cache.BlockBytes));
        _queue = new(checked((int)Math.Clamp(options.QueueBytes / blockBytes, 1, 1 << 20)));
        try
        {
            Directory.CreateDirectory(_dir);
            Scan();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Disable(e.Message);
        }

        _writer = new Thread(Write) { IsBackground = true, Name = "Tern disk cache writer" };
        _writer.Start();
    }

    /// <summary>The model's folder.</summary>
    public string Folder => _dir;

    public bool Enabled => _enabled;

    public DiskCacheStats Stats()
    {
        lock (_gate)
            return new(_enabled, _files.Count, _bytes, _queued.Count, _writes, _writtenBytes, _skipped, _evictions, _errors, _rejected);
    }

    /// <summary>Whether the block is on its way to disk, or there already (with a checkpoint, if
    /// <paramref name="checkpoint"/>).</summary>
    public bool Knows(ulong hash, bool checkpoint)
    {
        lock (_gate)
            return Has(hash, checkpoint);
    }

    public bool Contains(ulong hash)
    {
        lock (_gate)
            return _enabled && _files.ContainsKey(hash);
    }

    /// <summary>Whether the block is queued or on disk, with a checkpoint if <paramref name="checkpoint"/> (under the lock).</summary>
    private bool Has(ulong hash, bool checkpoint) =>
        _queued.TryGetValue(hash, out var queued) && (queued.Checkpoint || !checkpoint)
        || _files.TryGetValue(hash, out var file) && (file.Value.Checkpoint || !checkpoint);

    private void Dequeued(ulong hash)
    {
        var (jobs, checkpoint) = _queued[hash];
        if (jobs == 1)
            _queued.Remove(hash);
        else
            _queued[hash] = (jobs - 1, checkpoint);
    }

    /// <summary>A buffer for a block's body, to hand to <see cref="Enqueue"/>.</summary>
    public static byte[] RentBody(long bytes) => ArrayPool<byte>.Shared.Rent(checked((int)bytes));

    /// <summary>
    /// Queues a block for the writer, which returns <paramref name="body"/> to the pool. When the queue is full it is
    /// skipped (and counted), unless <paramref name="wait"/> (a shutdown's flush). False when it was not queued.
    /// </summary>
    public bool Enqueue(BlockHeader header, byte[] body, bool wait)
    {
        lock (_gate)
        {
            if (!_enabled || Has(header.Hash, header.Checkpoint))
            {
                ArrayPool<byte>.Shared.Return(body);
                return false;
            }

            var (jobs, checkpoint) = _queued.GetValueOrDefault(header.Hash);
            _queued[header.Hash] = (jobs + 1, checkpoint || header.Checkpoint);
        }

        bool queued;
        try
        {
            if (wait)
                _queue.Add((header, body));
            queued = wait || _queue.TryAdd((header, body));
        }
        catch (InvalidOperationException)
        {
            queued = false; // disposed
        }

        if (!queued)
        {
            ArrayPool<byte>.Shared.Return(body);
            lock (_gate)
            {
                Dequeued(header.Hash);
                _skipped++;
            }
        }

        return queued;
    }

    /// <summary>
    /// Reads the block <paramref name="hash"/> names into <paramref name="body"/> (rented: the caller returns it with
    /// <see cref="ReturnBody"/>) when it is on disk, holds exactly <paramref name="tokens"/> after
    /// <paramref name="parent"/> and passes its checksum. A damaged file is deleted; any of these is a miss.
    /// </summary>
    public bool TryRead(ulong hash, ulong parent, ReadOnlySpan<int> tokens, out BlockHeader header, out byte[] body)
    {
        header = null!;
        body = [];
        if (!Contains(hash))
            return false;
        string path = PathOf(hash);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16);
            var reader = new BlockRecord.Reader(stream, _layout);
            var read = reader.ReadHeader();
            if (read is null || read.Hash != hash || !Fits(read))
                throw new InvalidDataException("the record does not fit this model's layout");
            if (read.Parent != parent || !read.Tokens.AsSpan().SequenceEqual(tokens))
                return false; // another prefix whose key collides: not ours, not damaged
            body = RentBody(read.BodyBytes);
            reader.ReadBody(body.AsSpan(0, checked((int)read.BodyBytes)));
            header = read;
            Touch(hash);
            return true;
        }
        catch (InvalidDataException)
        {
            if (body.Length > 0)
                ReturnBody(body);
            body = [];
            lock (_gate)
                _rejected++;
            Forget(hash, delete: true);
            return false;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && Directory.Exists(_dir))
        {
            Forget(hash, delete: false); // deleted under us
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (body.Length > 0)
                ReturnBody(body);
            body = [];
            Disable(e.Message);
            return false;
        }
    }

    public static void ReturnBody(byte[] body) => ArrayPool<byte>.Shared.Return(body);

    /// <summary>Waits for the queued blocks to be written, then stops the writer.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        _writer.Join();
        _queue.Dispose();
    }

    private string PathOf(ulong hash) => Path.Combine(_dir, hash.ToString("x16") + Extension);

    /// <summary>Rebuilds the index from the folder: temporary files and records of another layout or cut short are deleted.</summary>
    private void Scan()
    {
        var found = new List<(ulong Hash, long Bytes, bool Checkpoint, DateTime Used)>();
        foreach (var file in new DirectoryInfo(_dir).EnumerateFiles())
        {
            if (file.Name.EndsWith(TempExtension, StringComparison.Ordinal))
            {
                file.Delete(); // a write cut short by a crash
                _rejected++;
                continue;
            }

            if (!file.Name.EndsWith(Extension, StringComparison.Ordinal))
                continue;
            if (ReadHeader(file) is { } header)
            {
                found.Add((header.Hash, file.Length, header.Checkpoint, file.LastWriteTimeUtc));
            }
            else
            {
                file.Delete();
                _rejected++;
            }
        }

        foreach (var (hash, bytes, checkpoint, _) in found.OrderBy(f => f.Used))
        {
            _files[hash] = _lru.AddLast((hash, bytes, checkpoint));
            _bytes += bytes;
        }

        lock (_gate)
            EvictOverSize();
    }

    private bool Fits(BlockHeader header) =>
        header.Groups.Length == _state.Groups.Count && header.Tokens.Length == _state.BlockTokens && (!header.Checkpoint || _state.Recurrent is not null)
        && header.BodyBytes == BlockRecord.BodyBytes(_state, header.Groups, header.Checkpoint);

    /// <summary>The header of a block file that fits this model, named by its key and whole in length; else null.</summary>
    private BlockHeader? ReadHeader(FileInfo file)
    {
        try
        {
            using var stream = file.OpenRead();
            var header = new BlockRecord.Reader(stream, _layout).ReadHeader();
            bool whole = header is not null && stream.Position + header.BodyBytes + 16 == stream.Length;
            return whole && file.Name == header!.Hash.ToString("x16") + Extension && Fits(header) ? header : null;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private void Write()
    {
        foreach (var (header, body) in _queue.GetConsumingEnumerable())
        {
            try
            {
                if (_enabled)
                    WriteFile(header, body);
            }
            finally
            {
                ReturnBody(body);
                lock (_gate)
                    Dequeued(header.Hash);
            }
        }
    }

    private void WriteFile(BlockHeader header, byte[] body)
    {
        string temp = Path.Combine(_dir, $"{header.Hash:x16}.{Environment.ProcessId}.{Interlocked.Increment(ref _temp)}{TempExtension}");
        try
        {
            long bytes;
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                BlockRecord.Write(stream, _layout, header, body.AsSpan(0, checked((int)header.BodyBytes)));
                bytes = stream.Position;
            }

            File.Move(temp, PathOf(header.Hash), overwrite: true);
            lock (_gate)
            {
                if (_files.Remove(header.Hash, out var old))
                {
                    _lru.Remove(old);
                    _bytes -= old.Value.Bytes;
                }

                _files[header.Hash] = _lru.AddLast((header.Hash, bytes, header.Checkpoint));
                _bytes += bytes;
                _writes++;
                _writtenBytes += bytes;
                EvictOverSize();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception)
            {
                // the folder may be gone or read-only: nothing more to do
            }

            Disable(e.Message);
        }
    }

    /// <summary>Deletes least recently used files until the folder fits its size (under the lock).</summary>
    private void EvictOverSize()
    {
        while (_bytes > _options.MaxBytes && _lru.First is { } oldest)
        {
            _lru.RemoveFirst();
            _files.Remove(oldest.Value.Hash);
            _bytes -= oldest.Value.Bytes;
            _evictions++;
            File.Delete(PathOf(oldest.Value.Hash));
        }
    }

    private void Touch(ulong hash)
    {
        lock (_gate)
        {
            if (_files.TryGetValue(hash, out var node))
            {
                _lru.Remove(node);
                _lru.AddLast(node);
            }
        }

        try
        {
            File.SetLastWriteTimeUtc(PathOf(hash), DateTime.UtcNow); // the order survives a restart
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // only the order after a restart suffers
        }
    }

    private void Forget(ulong hash, bool delete)
    {
        lock (_gate)
        {
            if (_files.Remove(hash, out var node))
            {
                _lru.Remove(node);
                _bytes -= node.Value.Bytes;
            }
        }

        if (!delete)
            return;
        try
        {
            File.Delete(PathOf(hash));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Disable(e.Message);
        }
    }

    /// <summary>Turns the tier off, telling once why; serving goes on without it.</summary>
    private void Disable(string reason)
    {
        bool first;
        lock (_gate)
        {
            _errors++;
            first = _enabled;
            _enabled = false;
        }

        if (first)
            _options.Warn?.Invoke($"disk prefix cache {_dir} is off from now on ({reason}); serving continues from RAM");
    }
}
