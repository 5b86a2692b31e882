using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace Tern.Tools;

/// <summary>
/// Appends one JSON line per tool call to a file:
/// <c>{"time":"2026-12-01T07:30:00.123+00:00","request_id":"...","tool":"read_file","arguments":{...},"outcome":"ok","message":null,"bytes":42,"duration_ms":1.7}</c>.
/// <c>outcome</c> is <c>ok</c> or <c>error</c> (then <c>message</c> says why) or <c>cancelled</c>; <c>bytes</c> is
/// the size of the output given to the model. Long strings inside the arguments are shortened (a write_file call
/// does not copy the whole file into the log).
/// <para>
/// The file is opened once, at start, without following a symbolic link and without blocking, and it must be a
/// regular file with one link that does not lie inside the workspace (where the tools could replace it): a link or
/// a FIFO swapped in at the path later is never opened. A call never waits for the disk: its line goes into a
/// bounded queue that one writer task drains with one append per line; when the queue is full the line is dropped,
/// and a failed write is reported once and counted (<see cref="Dropped"/>, <see cref="WriteFailures"/>).
/// </para>
/// </summary>
public sealed class AuditLog : IAsyncDisposable
{
    public const int MaxLoggedStringChars = 1024;

    /// <summary>Lines waiting for the writer, at most.</summary>
    public const int DefaultCapacity = 4096;

    private static readonly TimeSpan DisposeWait = TimeSpan.FromSeconds(10);

    private const int MaxLoggedDepth = 16;

    private readonly SafeFileHandle _file;
    private readonly Channel<Entry> _queue;
    private readonly Task _writer;
    private readonly Action<string>? _report;
    private long _dropped;
    private long _writeFailures;

    /// <summary>
    /// Opens (creating it when missing, mode 0600) the log file, so a bad path fails here with an
    /// <see cref="ArgumentException"/> rather than on the first call. <paramref name="report"/> hears of the first
    /// failed write.
    /// </summary>
    public AuditLog(string path, Workspace? workspace = null, Action<string>? report = null, int capacity = DefaultCapacity)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Path = Locate(System.IO.Path.GetFullPath(path), workspace);
        _file = Open(Path);
        _report = report;
        _queue = Channel.CreateBounded<Entry>(new BoundedChannelOptions(capacity) { SingleReader = true });
        _writer = Task.Run(WriteAllAsync);
    }

    /// <summary>The absolute path the log was opened at (its directory's real path).</summary>
    public string Path { get; }

    /// <summary>Lines dropped because the queue was full (the writer fell behind).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Lines the writer failed to write.</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>The open file, for tests.</summary>
    internal SafeFileHandle Handle => _file;

    /// <summary>Queues one record. <paramref name="arguments"/> is logged as JSON when it is valid JSON, as a string otherwise.</summary>
    public void Append(DateTimeOffset time, string requestId, string tool, JsonElement? arguments, string? rawArguments, string outcome, string? message, int bytes, TimeSpan duration)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("request_id", Shorten(requestId));
            json.WriteString("tool", Shorten(tool));
            json.WritePropertyName("arguments");
            if (arguments is { ValueKind: not JsonValueKind.Undefined } element)
            {
                WriteShortened(json, element, 0);
            }
            else if (rawArguments is not null)
            {
                json.WriteStringValue(Shorten(rawArguments));
            }
            else
            {
                json.WriteNullValue();
            }

            json.WriteString("outcome", outcome);
            if (message is null)
            {
                json.WriteNull("message");
            }
            else
            {
                json.WriteString("message", Shorten(message));
            }

            json.WriteNumber("bytes", bytes);
            json.WriteNumber("duration_ms", Math.Round(duration.TotalMilliseconds, 3));
            json.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        if (!_queue.Writer.TryWrite(new Entry(buffer.ToArray(), null)))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Completes when every line queued before the call has been written (or has failed).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await _queue.Writer.WriteAsync(new Entry([], written), cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return; // disposed: everything was written then
        }

        await written.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes what is queued (waiting at most <see cref="DisposeWait"/> for a stuck disk) and closes the file; later
    /// records are dropped.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(DisposeWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // shutting down must not hang on the log; the descriptor closes when the pending write returns
        }

        _file.Dispose();
    }

    /// <summary>The path with its directory resolved; refused when that lies inside the workspace.</summary>
    private static string Locate(string full, Workspace? workspace)
    {
        string directory = System.IO.Path.GetDirectoryName(full) ?? "/";
        string realDirectory = Posix.RealPath(directory, out int errno)
            ?? throw new ArgumentException($"the audit log {full} cannot be created: its directory {directory}: {Posix.Describe(errno)}");
        string located = System.IO.Path.Join(realDirectory, System.IO.Path.GetFileName(full));
        if (workspace is not null && (workspace.IsInside(located) || UnderDirectory(realDirectory, workspace.Root)))
        {
            throw new ArgumentException(
                $"the audit log {full} is inside the workspace {workspace.Root}, where the tools could replace it; put it outside the workspace");
        }

        return located;
    }

    /// <summary>
    /// Whether <paramref name="directory"/> or one of its ancestors is the directory <paramref name="root"/> by device
    /// and inode: the same tree reached through another path (a bind mount) is inside too.
    /// </summary>
    private static bool UnderDirectory(string directory, string root)
    {
        if (!Posix.TryStat(root, followLinks: true, out var target, out _))
        {
            return false;
        }

        for (string? current = directory; current is not null; current = System.IO.Path.GetDirectoryName(current))
        {
            if (Posix.TryStat(current, followLinks: true, out var status, out _) && status.Device == target.Device && status.Inode == target.Inode)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>open(2) without following a link or waiting on a FIFO; only a regular file with one link is kept.</summary>
    private static SafeFileHandle Open(string path)
    {
        var file = Posix.Open(null, path, Posix.O_WRONLY | Posix.O_APPEND | Posix.O_CREAT | Posix.O_NOFOLLOW | Posix.O_NONBLOCK | Posix.O_NOCTTY, 0b110_000_000 /* rw------- */, out int errno);
        if (file.IsInvalid)
        {
            // ELOOP for a link, ENXIO for a FIFO nobody reads or a socket: say what is there.
            throw Posix.TryStat(path, followLinks: false, out var there, out _) && !there.IsRegularFile
                ? Refused(path, there)
                : new ArgumentException($"the audit log {path} cannot be opened: {Posix.Describe(errno)}");
        }

        if (!Posix.TryStat(file, out var status, out errno) || !status.IsRegularFile || status.LinkCount > 1)
        {
            file.Dispose();
            throw Refused(path, status);
        }

        return file;
    }

    private static ArgumentException Refused(string path, FileStatus status) => new(status.IsRegularFile
        ? $"the audit log {path} has {status.LinkCount} hard links; it must be a file of its own"
        : $"the audit log {path} is {status.KindDescription}; it must be a regular file");

    private async Task WriteAllAsync()
    {
        await foreach (var entry in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (entry.Written is { } written)
            {
                written.TrySetResult();
                continue;
            }

            int errno;
            try
            {
                errno = Posix.WriteAll(_file, entry.Line);
            }
            catch (ObjectDisposedException)
            {
                errno = Posix.EBADF;
            }

            if (errno != 0 && Interlocked.Increment(ref _writeFailures) == 1)
            {
                try
                {
                    _report?.Invoke($"audit log {Path}: a write failed ({Posix.Describe(errno)}); failures from now on are only counted (tern_audit_log_write_failures_total)");
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    // the report's own writer is gone; the count remains
                }
            }
        }
    }

    private static string Shorten(string text)
    {
        string shortened = text.Length <= MaxLoggedStringChars ? text : $"{text[..MaxLoggedStringChars]}… [{text.Length} characters]";

        // Lone surrogates cannot be written as JSON text; keep the line valid.
        return shortened.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF') ? Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(shortened)) : shortened;
    }

    private static void WriteShortened(Utf8JsonWriter json, JsonElement element, int depth)
    {
        if (depth >= MaxLoggedDepth && element.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
        {
            json.WriteStringValue("[nested too deep]");
            return;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                json.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    json.WritePropertyName(Shorten(ToolArguments.NameOf(property)));
                    WriteShortened(json, property.Value, depth + 1);
                }

                json.WriteEndObject();
                break;
            case JsonValueKind.Array:
                json.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteShortened(json, item, depth + 1);
                }

                json.WriteEndArray();
                break;
            case JsonValueKind.String:
                string value;
                try
                {
                    value = element.GetString()!;
                }
                catch (InvalidOperationException)
                {
                    value = "[invalid Unicode]";
                }

                json.WriteStringValue(Shorten(value));
                break;
            default:
                element.WriteTo(json);
                break;
        }
    }

    /// <summary>A line to write, or (with <see cref="Written"/>) a mark that the lines before it are written.</summary>
    private readonly record struct Entry(byte[] Line, TaskCompletionSource? Written);
}
