using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Tern.Cli.Tests;

/// <summary>
/// `tern serve` in a child process: the API key it was given is gone from /proc/PID/environ and /proc/PID/cmdline
/// (what a shell tool running as the same user could read), and the server still requires it.
/// </summary>
public sealed class ServeSecretTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("environment")]
    [InlineData("--api-key KEY")]
    [InlineData("--api-key=KEY")]
    public async Task The_key_is_not_readable_from_proc_and_is_still_required(string givenAs)
    {
        var cancel = TestContext.Current.CancellationToken;
        string key = "sk-" + Guid.NewGuid().ToString("N");
        string other = "sk-env-" + Guid.NewGuid().ToString("N"); // in TERN_API_KEY while --api-key wins: hidden too
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "tern.dll"), "serve", "--port", "0" },
            Environment = { ["TERN_API_KEY"] = givenAs == "environment" ? key : other, ["TERN_TEST_MARKER"] = "still-here" },
        };
        if (givenAs == "--api-key KEY")
        {
            start.ArgumentList.Add("--api-key");
            start.ArgumentList.Add(key);
        }
        else if (givenAs == "--api-key=KEY")
        {
            start.ArgumentList.Add("--api-key=" + key);
        }

        using var server = Process.Start(start)!;
        try
        {
            string address = await ListeningAddressAsync(server).WaitAsync(Bound, cancel);

            string environ = Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{server.Id}/environ"));
            string cmdline = Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{server.Id}/cmdline"));
            Assert.Contains("TERN_TEST_MARKER=still-here\0", environ, StringComparison.Ordinal);
            Assert.Contains("serve\0--port\00\0", cmdline, StringComparison.Ordinal);
            foreach (string secret in new[] { key, other })
            {
                Assert.DoesNotContain(secret, environ, StringComparison.Ordinal);
                Assert.DoesNotContain(secret, cmdline, StringComparison.Ordinal);
            }

            using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = Bound };
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/models", cancel)).StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key) } };
            Assert.NotEqual(HttpStatusCode.Unauthorized, (await http.SendAsync(request, cancel)).StatusCode);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync(CancellationToken.None).WaitAsync(Bound, CancellationToken.None);
        }
    }

    internal static async Task<string> ListeningAddressAsync(Process server)
    {
        const string prefix = "listening on ";
        while (await server.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..];
            }
        }

        throw new InvalidOperationException($"tern serve exited before listening: {await server.StandardError.ReadToEndAsync()}");
    }
}
