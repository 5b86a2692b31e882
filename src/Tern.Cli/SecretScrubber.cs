using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Tern.Cli;

/// <summary>
/// Reads the API key and takes it out of what a process running as the same user (a shell tool started with
/// --unsafe-shell, say) can read of this one: /proc/PID/environ shows the memory the kernel laid the environment in
/// at exec, and /proc/PID/cmdline the arguments, whatever the process did to its environment since (.NET's
/// SetEnvironmentVariable changes neither). The key's bytes in those two regions (their addresses are in
/// /proc/self/stat) are overwritten with '*' through /proc/self/mem, and TERN_API_KEY is removed from .NET's and
/// libc's environment.
/// </summary>
internal static class SecretScrubber
{
    public const string Variable = "TERN_API_KEY";

    // Fields of /proc/self/stat (see proc(5)), counted from 1.
    private const int ArgStartField = 48;
    private const int EnvStartField = 50;

    /// <summary>The key given with --api-key, else TERN_API_KEY (null when neither); scrubbed as described above.</summary>
    public static string? ReadApiKey(string? fromOption, TextWriter log)
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable(Variable);
        string? key = fromOption ?? fromEnvironment;
        if (fromEnvironment is null && string.IsNullOrEmpty(key))
        {
            return key;
        }

        Environment.SetEnvironmentVariable(Variable, null);
        if (!OperatingSystem.IsLinux())
        {
            return key;
        }

        _ = unsetenv(Variable);
        try
        {
            Scrub(key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or NotSupportedException)
        {
            log.WriteLine($"warning: could not hide the API key from /proc/{Environment.ProcessId}/environ and cmdline: {e.Message}");
        }

        return key;
    }

    private static void Scrub(string? key)
    {
        string stat = File.ReadAllText("/proc/self/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields[0] is field 3 (the state)
        long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
        using var memory = File.OpenHandle("/proc/self/mem", FileMode.Open, FileAccess.ReadWrite);
        byte[] prefix = Encoding.UTF8.GetBytes(Variable + "=");
        ScrubRegion(memory, Field(EnvStartField), Field(EnvStartField + 1), entry => entry.StartsWith(prefix) ? prefix.Length : -1);
        if (!string.IsNullOrEmpty(key))
        {
            byte[] secret = Encoding.UTF8.GetBytes(key);
            ScrubRegion(memory, Field(ArgStartField), Field(ArgStartField + 1), argument => KeyStart(argument, secret));
        }
    }

    /// <summary>Where the key starts in an argument: the whole argument, or after "--api-key=" (or ':'); -1 when absent.</summary>
    private static int KeyStart(ReadOnlySpan<byte> argument, ReadOnlySpan<byte> secret)
    {
        if (!argument.EndsWith(secret))
        {
            return -1;
        }

        int start = argument.Length - secret.Length;
        return start == 0 || argument[start - 1] is (byte)'=' or (byte)':' ? start : -1;
    }

    /// <summary>Overwrites, in each NUL-terminated string of [start, end), the bytes from <paramref name="from"/>'s answer on.</summary>
    private static void ScrubRegion(Microsoft.Win32.SafeHandles.SafeFileHandle memory, long start, long end, SecretStart from)
    {
        var region = new byte[end - start];
        int read = RandomAccess.Read(memory, region, start);
        var bytes = region.AsSpan(0, read);
        for (int offset = 0; offset < bytes.Length;)
        {
            int length = bytes[offset..].IndexOf((byte)0);
            length = length < 0 ? bytes.Length - offset : length;
            var entry = bytes.Slice(offset, length);
            int secret = from(entry);
            if (secret >= 0 && secret < length)
            {
                entry[secret..].Fill((byte)'*');
                RandomAccess.Write(memory, entry[secret..], start + offset + secret);
            }

            offset += length + 1;
        }
    }

    private delegate int SecretStart(ReadOnlySpan<byte> entry);

    [DllImport("libc", SetLastError = true)]
    private static extern int unsetenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}
