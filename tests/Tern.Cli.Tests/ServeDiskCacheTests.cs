using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Tern.Cli.Tests;

/// <summary>
/// `tern serve --cache-dir DIR --cache-disk-size SIZE` as a real process: a server killed while it writes the disk
/// cache restarts on the same folder and serves the cached prefixes from disk (what the kill left half-written is
/// deleted), and a full disk turns the tier off with one warning while requests keep succeeding.
/// </summary>
public sealed class ServeDiskCacheTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. ";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-serve-disk-").FullName;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("lots")]
    [InlineData("0")]
    public void A_bad_disk_size_stops_serve_with_an_error_naming_the_flag(string size)
    {
        var (exitCode, _, stderr) = CliRunner.Run("serve", "--cache-dir", _dir, "--cache-disk-size", size);

        Assert.Equal(1, exitCode);
        Assert.Contains($"--cache-disk-size must be a positive size such as 1G, 512M or a number of bytes, got '{size}'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_the_disk_cache_flags()
    {
        var (_, stdout, _) = CliRunner.Run("serve", "--help");

        Assert.Contains("--cache-dir", stdout, StringComparison.Ordinal);
        Assert.Contains("--cache-disk-size", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_killed_while_writing_restarts_and_serves_the_prefix_from_disk()
    {
        string[] prompts = [.. Enumerable.Range(0, 4).Select(i => $"Story {i}. " + string.Concat(Enumerable.Repeat(Story, 3)))];
        var first = new List<JsonElement>();
        string folder;
        using (var server = new ServeProcess(_dir))
        {
            var http = await server.StartAsync();
            foreach (string prompt in prompts)
                first.Add(await CompleteAsync(http, prompt));
            // Kill it without warning, as soon as the writer has put files down (it may be writing more).
            for (int i = 0; i < 1000 && !Directory.EnumerateFiles(_dir, "*.blk", SearchOption.AllDirectories).Any(); i++)
                await Task.Delay(5, Cancel);
            server.Kill();
            folder = Assert.Single(Directory.GetDirectories(_dir));
        }

        // What a kill in the middle of a write leaves: a temporary file, and (had the rename come first) a cut file.
        var written = Directory.GetFiles(folder, "*.blk");
        Assert.NotEmpty(written);
        File.WriteAllBytes(Path.Combine(folder, "00000000000000aa.999.1.tmp"), File.ReadAllBytes(written[0])[..64]);
        string cut = Path.Combine(folder, "00000000000000bb.blk");
        File.WriteAllBytes(cut, File.ReadAllBytes(written[0])[..(int)(new FileInfo(written[0]).Length / 2)]);

        using (var server = new ServeProcess(_dir))
        {
            var http = await server.StartAsync();
            Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
            Assert.False(File.Exists(cut));
            int fromDisk = 0;
            for (int i = 0; i < prompts.Length; i++)
            {
                var again = await CompleteAsync(http, prompts[i]);
                Assert.Equal(first[i].GetProperty("choices")[0].GetProperty("text").GetString(), again.GetProperty("choices")[0].GetProperty("text").GetString());
                fromDisk += again.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            }

            Assert.True(fromDisk > 0, "the restarted server took prompt tokens from disk");
            string metrics = await http.GetStringAsync("/metrics", Cancel);
            Assert.Contains($"tern_disk_cache_hit_tokens_total {fromDisk}\n", metrics, StringComparison.Ordinal);
            Assert.Contains("tern_disk_cache_enabled 1\n", metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_full_disk_turns_the_tier_off_with_one_warning_and_the_server_keeps_answering()
    {
        Tern.Runtime.Tests.Tmpfs.Mount(_dir);
        try
        {
            using var server = new ServeProcess(_dir);
            var http = await server.StartAsync();
            for (int i = 0; i < 30 && !(await http.GetStringAsync("/metrics", Cancel)).Contains("tern_disk_cache_enabled 0\n", StringComparison.Ordinal); i++)
            {
                var reply = await CompleteAsync(http, $"Story {i}. " + string.Concat(Enumerable.Repeat(Story, 3)));
                Assert.Equal("length", reply.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
                await Task.Delay(50, Cancel);
            }

            string metrics = await http.GetStringAsync("/metrics", Cancel);
            Assert.Contains("tern_disk_cache_enabled 0\n", metrics, StringComparison.Ordinal);
            var after = await CompleteAsync(http, "After the disk filled up. " + Story);
            Assert.Equal("length", after.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            var warnings = server.Output.Where(l => l.Contains("disk prefix cache", StringComparison.Ordinal)).ToList();
            var warning = Assert.Single(warnings);
            Assert.Contains("No space left on device", warning, StringComparison.Ordinal);
        }
        finally
        {
            Tern.Runtime.Tests.Tmpfs.Unmount(_dir);
        }
    }

    private static async Task<JsonElement> CompleteAsync(HttpClient http, string prompt)
    {
        using var response = await http.PostAsJsonAsync("/v1/completions", new { prompt, max_tokens = 8, temperature = 0 }, Cancel);
        string body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>`tern serve --port 0 --cache-dir DIR` on the embedded model; its standard output collected.</summary>
    private sealed class ServeProcess(string dir) : IDisposable
    {
        private Process? _process;
        private HttpClient? _http;

        public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

        public async Task<HttpClient> StartAsync()
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                ArgumentList = { Path.Combine(AppContext.BaseDirectory, "tern.dll"), "serve", "--port", "0", "--parallel", "1", "--cache-dir", dir, "--cache-disk-size", "1G" },
            };
            _process = Process.Start(start)!;
            string address = await ServeSecretTests.ListeningAddressAsync(_process).WaitAsync(Bound, Cancel);
            _ = Task.Run(async () =>
            {
                while (await _process.StandardOutput.ReadLineAsync() is { } line)
                    Output.Enqueue(line);
            });
            _http = new HttpClient { BaseAddress = new Uri(address), Timeout = Bound };
            // The model (and its disk cache) loads after the server listens.
            for (int i = 0; i < 2400 && !(await _http.GetAsync("/health", Cancel)).IsSuccessStatusCode; i++)
                await Task.Delay(50, Cancel);
            return _http;
        }

        public void Kill()
        {
            _process!.Kill(entireProcessTree: true); // SIGKILL
            _process.WaitForExit();
        }

        public void Dispose()
        {
            _http?.Dispose();
            if (_process is { HasExited: false })
                Kill();
            _process?.Dispose();
        }
    }
}
