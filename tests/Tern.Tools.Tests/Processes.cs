using System.Text;

namespace Tern.Tools.Tests;

/// <summary>Looks for host processes by command line, to prove that a sandbox left nothing running.</summary>
internal static class Processes
{
    /// <summary>
    /// Fails unless no process runs <paramref name="program"/> with <paramref name="argument"/>. Killed processes
    /// may take a moment to be reaped, so this waits a bounded time before failing.
    /// </summary>
    public static void AssertGone(string program, string argument)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            int count = Count(program, argument);
            if (count == 0)
            {
                return;
            }

            Thread.Sleep(50);
        }

        Assert.Fail($"{Count(program, argument)} processes '{program} {argument}' are still running");
    }

    private static int Count(string program, string argument)
    {
        int count = 0;
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out _))
            {
                continue;
            }

            try
            {
                string[] args = Encoding.UTF8.GetString(File.ReadAllBytes(directory + "/cmdline")).Split('\0');
                if (args.Length >= 2 && Path.GetFileName(args[0]) == program && args[1] == argument)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // exited while we looked
            }
            catch (UnauthorizedAccessException)
            {
                // not ours to see
            }
        }

        return count;
    }
}
