using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Tern.Cli.Tests;

/// <summary>
/// `tern serve` as a real process receiving SIGTERM or Ctrl-C (SIGINT): it drains (/health and new requests 503, the
/// running stream finishes, or is cut at --drain-timeout with an error event), unloads its models and exits 0.
/// </summary>
public sealed partial class ServeDrainTests
{
    private const int SIGINT = 2;
    private const int SIGTERM = 15;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>A `tern serve` process, its address, and its log (standard error) as it comes.</summary>
    private sealed class ServeProcess : IAsyncDisposable
    {
        private readonly ConcurrentQueue<string> _log = new();

        private ServeProcess(Process process) => Process = process;

        public Process Process { get; }
        public HttpClient Http { get; private set; } = null!;
        public string Log => string.Join('\n', _log);

        /// <summary>Starts it and waits until /health says ok.</summary>
        public static async Task<ServeProcess> StartAsync(params string[] args)
        {
            // env resets SIGINT to its default: a shell starts background jobs (and so maybe this test host) with it ignored, which the child would inherit
            var start = new ProcessStartInfo("env")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                ArgumentList = { "--default-signal=INT", Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "tern.dll"), "serve", "--port", "0" },
            };
            foreach (string arg in args)
                start.ArgumentList.Add(arg);
            start.Environment["TERN_MODELS"] = start.Environment["LLAMA_CACHE"] = Path.Combine(Path.GetTempPath(), "tern-drain-no-cache"); // router mode: no cached models
            var server = new ServeProcess(Process.Start(start)!);
            server.Process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                    server._log.Enqueue(e.Data);
            };
            server.Process.BeginErrorReadLine();
            string address = await ServeSecretTests.ListeningAddressAsync(server.Process).WaitAsync(Bound, Cancellation);
            _ = server.Process.StandardOutput.ReadToEndAsync(CancellationToken.None); // keeps the pipe from filling
            server.Http = new HttpClient { BaseAddress = new Uri(address), Timeout = Bound };
            for (int i = 0; i < 4000 && (await server.Http.GetAsync("/health", Cancellation)).StatusCode != HttpStatusCode.OK; i++)
                await Task.Delay(25, Cancellation); // the model loads in the background
            return server;
        }

        public void Signal(int signal) => Assert.Equal(0, kill(Process.Id, signal));

        /// <summary>Polls /health until it stops answering 200 (the signal has been handled), and returns that answer.</summary>
        public async Task<(HttpStatusCode Status, string Body)> HealthOnceDrainingAsync()
        {
            for (int i = 0; ; i++)
            {
                var response = await Http.GetAsync("/health", Cancellation);
                if (response.StatusCode != HttpStatusCode.OK || i == 4000)
                    return (response.StatusCode, await response.Content.ReadAsStringAsync(Cancellation));
                await Task.Delay(25, Cancellation);
            }
        }

        public async Task<int> ExitCodeAsync()
        {
            await Process.WaitForExitAsync(Cancellation).WaitAsync(Bound, Cancellation);
            return Process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            Http?.Dispose();
            if (!Process.HasExited)
                Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync(CancellationToken.None).WaitAsync(Bound, CancellationToken.None);
            Process.Dispose();
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A streaming completion with stories260K's end-of-text token banned (it runs to max_tokens), once its first event has come.</summary>
    private static Task<(HttpResponseMessage Response, StreamReader Reader)> StartStreamAsync(ServeProcess server, int maxTokens) =>
        SseStream.StartAsync(server.Http, "/v1/completions", $$$"""{"prompt":"Once upon a time","max_tokens":{{{maxTokens}}},"stream":true,"logit_bias":{"2":-100}}""", Cancellation);

    private static Task<List<string>> ReadToEndAsync(StreamReader reader) => SseStream.ReadToEndAsync(reader, Cancellation);

    [Theory]
    [InlineData(SIGTERM)]
    [InlineData(SIGINT)]
    public async Task A_signal_drains_the_running_stream_to_its_end_then_serve_exits_0(int signal)
    {
        await using var server = await ServeProcess.StartAsync("-m", SharedData.Path("models/stories260K.gguf"), "-c", "4096", "-np", "1", "--drain-timeout", "120");
        var (response, reader) = await StartStreamAsync(server, maxTokens: 3000);
        using var _ = response;

        server.Signal(signal);
        var (healthStatus, health) = await server.HealthOnceDrainingAsync();
        var refused = await server.Http.PostAsync("/v1/completions", Json("""{"prompt":"Once","max_tokens":3}"""), Cancellation);
        string refusal = await refused.Content.ReadAsStringAsync(Cancellation);
        var events = await ReadToEndAsync(reader);
        int exitCode = await server.ExitCodeAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, healthStatus);
        Assert.Equal("draining", JsonDocument.Parse(health).RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("server_draining", JsonDocument.Parse(refusal).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal("length", JsonDocument.Parse(events[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, exitCode);
        string log = server.Log;
        Assert.Contains("draining: new requests get 503", log, StringComparison.Ordinal);
        Assert.Contains(", 0 requests cut", log, StringComparison.Ordinal);
        Assert.Contains("stopped: models unloaded (stories260K)", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task At_the_drain_timeout_the_stream_ends_with_an_error_event_and_serve_exits_0()
    {
        await using var server = await ServeProcess.StartAsync("-m", SharedData.Path("models/stories260K.gguf"), "-c", "65536", "-np", "1", "--drain-timeout", "1");
        var (response, reader) = await StartStreamAsync(server, maxTokens: 60000); // minutes of work

        server.Signal(SIGTERM);
        var events = await ReadToEndAsync(reader);
        response.Dispose();
        int exitCode = await server.ExitCodeAsync();

        Assert.DoesNotContain("[DONE]", events);
        var error = JsonDocument.Parse(events[^1]).RootElement.GetProperty("error");
        Assert.Equal("server_draining", error.GetProperty("code").GetString());
        Assert.Equal("unavailable_error", error.GetProperty("type").GetString());
        Assert.Equal(0, exitCode);
        Assert.Contains(", 1 requests cut", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_signal_cuts_the_drain_short_and_serve_still_unloads_and_exits_0()
    {
        await using var server = await ServeProcess.StartAsync("-m", SharedData.Path("models/stories260K.gguf"), "-c", "65536", "-np", "1", "--drain-timeout", "3600");
        var (response, reader) = await StartStreamAsync(server, maxTokens: 60000);

        server.Signal(SIGTERM);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.HealthOnceDrainingAsync()).Status);
        server.Signal(SIGINT);
        var events = await ReadToEndAsync(reader);
        response.Dispose();
        int exitCode = await server.ExitCodeAsync();

        Assert.Equal("server_draining", JsonDocument.Parse(events[^1]).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, exitCode);
        Assert.Contains("asked to stop again", server.Log, StringComparison.Ordinal);
        Assert.Contains("stopped: models unloaded (stories260K)", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Router_mode_drains_then_unloads_every_loaded_model_and_exits_0()
    {
        string models = Directory.CreateTempSubdirectory("tern-drain-models-").FullName;
        try
        {
            File.CreateSymbolicLink(Path.Combine(models, "stories.gguf"), SharedData.Path("models/stories260K.gguf"));
            File.CreateSymbolicLink(Path.Combine(models, "tiny.gguf"), SharedData.Path("models/llama-tiny-q8_0.gguf"));
            await using var server = await ServeProcess.StartAsync("--models-dir", models, "--drain-timeout", "60");
            foreach (string model in new[] { "stories", "tiny" })
            {
                var reply = await server.Http.PostAsync("/v1/completions", Json($$"""{"model":"{{model}}","prompt":"Once","max_tokens":2}"""), Cancellation);
                Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
            }

            server.Signal(SIGTERM);
            int exitCode = await server.ExitCodeAsync();

            Assert.Equal(0, exitCode);
            string log = server.Log;
            Assert.Contains("stopped: models unloaded (stories, tiny)", log, StringComparison.Ordinal);
            Assert.True(log.IndexOf("drained in", StringComparison.Ordinal) < log.IndexOf("stopped: models unloaded", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }
}
