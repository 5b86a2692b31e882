namespace Tern.Cli;

/// <summary>Whether a writer is the console on a terminal (not redirected), so live lines redrawn in place are welcome.</summary>
internal static class Terminal
{
    private static readonly AsyncLocal<bool> s_pretend = new();

    public static bool Is(TextWriter writer) => s_pretend.Value
        || ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected
        || ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;

    /// <summary>Treats every writer as a terminal in this async flow until disposed (tests draw live lines into a StringWriter).</summary>
    public static IDisposable Pretend()
    {
        s_pretend.Value = true;
        return new Restore();
    }

    private sealed class Restore : IDisposable
    {
        public void Dispose() => s_pretend.Value = false;
    }
}
