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

    /// <summary>Runs a host program to completion (at most a minute) and returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(string program, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        return (process.ExitCode, output + errors.GetAwaiter().GetResult());
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
