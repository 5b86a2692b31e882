using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.Server.Tests;

public sealed class OneSlotServerFixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { Parallel = 1, ContextPerSequence = 32768 };
}

/// <summary>/metrics under the names routers read (vLLM's, llama-server's), parsed strictly as Prometheus text.</summary>
public sealed partial class RouterMetricsTests(OneSlotServerFixture fixture) : IClassFixture<OneSlotServerFixture>
{
    private const string Story = "Once upon a time there was a little girl named Lily. She liked to play in the park with her dog. One day she saw a big red ball under a tree and she ran to get it.";

    private static string Chat(string content, int maxTokens, bool stream = false) =>
        $$$"""{"messages": [{"role": "user", "content": "{{{content}}}"}], "max_tokens": {{{maxTokens}}}, "stream": {{{(stream ? "true" : "false")}}}, "logit_bias": {"2": -100}}""";

    [Fact]
    public async Task Metrics_have_vllm_and_llamacpp_names_with_model_name_and_histograms_count_the_requests()
    {
        await fixture.WaitUntilIdleAsync();
        var before = await ScrapeAsync();
        for (int i = 0; i < 3; i++)
            Assert.Equal(200, (await fixture.PostAsync("/v1/chat/completions", Chat(Story, 8))).Status); // the same prompt: cache hits
        var after = await ScrapeAsync();

        string[] names =
        [
            "vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:cache_config_info",
            "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "vllm:request_success_total", "llamacpp:requests_processing", "llamacpp:requests_deferred", "llamacpp:prompt_tokens_total",
            "llamacpp:tokens_predicted_total", "llamacpp:kv_cache_usage_ratio", "llamacpp:n_decode_total",
        ];
        foreach (string name in names)
            Assert.True(after.Samples.Any(s => s.Name == name && s.Labels.GetValueOrDefault("model_name") == "stories"), name + "\n" + string.Join("\n", after.Samples.Select(s => s.Name)));
        Assert.Equal("gauge", after.Types["vllm:kv_cache_usage_perc"]);
        Assert.Equal("counter", after.Types["vllm:prompt_tokens_total"]);
        Assert.Contains("tern_requests_total", after.Types.Keys); // Tern's own names stay

        var config = after.Samples.Single(s => s.Name == "vllm:cache_config_info");
        Assert.Equal(1, config.Value);
        Assert.Equal(fixture.Server.Model!.Engine.KvBlockCount.ToString(CultureInfo.InvariantCulture), config.Labels["num_gpu_blocks"]);
        Assert.True(int.Parse(config.Labels["block_size"], CultureInfo.InvariantCulture) > 0);

        foreach (string h in new[] { "vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds", "vllm:inter_token_latency_seconds" })
        {
            Assert.Equal("histogram", after.Types[h]);
            Assert.Contains(after.Samples, s => s.Name == h + "_bucket" && s.Labels["le"] == "+Inf");
            Assert.Contains(after.Samples, s => s.Name == h + "_sum");
        }

        Assert.Equal(3, Delta(before, after, "vllm:time_to_first_token_seconds_count"));
        Assert.Equal(3, Delta(before, after, "vllm:e2e_request_latency_seconds_count"));
        Assert.Equal(3 * 7, Delta(before, after, "vllm:inter_token_latency_seconds_count")); // 8 tokens: 7 gaps each
        Assert.Equal(3, Delta(before, after, "vllm:time_to_first_token_seconds_bucket", "+Inf"));
        Assert.Equal(3, Delta(before, after, "vllm:request_success_total"));
        Assert.Equal(3 * 8, Delta(before, after, "vllm:generation_tokens_total"));
        Assert.True(Delta(before, after, "vllm:prefix_cache_hits_total") > 0);
        Assert.True(Delta(before, after, "vllm:prefix_cache_queries_total") >= Delta(before, after, "vllm:prefix_cache_hits_total"));
    }

    [Fact]
    public async Task Running_waiting_and_kv_usage_follow_the_requests_and_return_to_idle()
    {
        await fixture.WaitUntilIdleAsync();
        var idle = await ScrapeAsync();
        Assert.Equal(0, idle.Value("vllm:kv_cache_usage_perc"));
        Assert.Equal(0, idle.Value("vllm:num_requests_running"));

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var held = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Chat("Once", 30000, stream: true), Encoding.UTF8, "application/json") };
        using var running = await fixture.Http.SendAsync(held, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var stream = await running.Content.ReadAsStreamAsync(cancel.Token);
        await stream.ReadExactlyAsync(new byte[16], cancel.Token); // the only sequence is (about to be) busy
        var second = fixture.PostAsync("/v1/chat/completions", Chat("Once", 4)); // waits for the slot

        var busy = await ScrapeAsync();
        for (int i = 0; i < 400 && (busy.Value("vllm:num_requests_waiting") < 1 || busy.Value("vllm:num_requests_running") < 1); i++) // a hang guard, not a timing
        {
            await Task.Delay(25, TestContext.Current.CancellationToken);
            busy = await ScrapeAsync();
        }

        Assert.Equal(1, busy.Value("vllm:num_requests_waiting"));
        Assert.Equal(1, busy.Value("vllm:num_requests_running"));
        Assert.Equal(1, busy.Value("llamacpp:requests_deferred"));
        Assert.Equal(1, busy.Value("llamacpp:requests_processing"));
        Assert.InRange(busy.Value("vllm:kv_cache_usage_perc"), 1e-9, 1);
        Assert.Equal(busy.Value("vllm:kv_cache_usage_perc"), busy.Value("llamacpp:kv_cache_usage_ratio"));

        cancel.Cancel();
        await stream.DisposeAsync();
        running.Dispose();
        Assert.Equal(200, (await second).Status);
        await fixture.WaitUntilIdleAsync();
        var after = await ScrapeAsync();
        Assert.Equal(0, after.Value("vllm:kv_cache_usage_perc"));
        Assert.Equal(0, after.Value("vllm:num_requests_running"));
        Assert.Equal(0, after.Value("vllm:num_requests_waiting"));
    }

    private static double Delta(Exposition before, Exposition after, string name, string? le = null) =>
        after.Value(name, le) - before.Value(name, le);

    private async Task<Exposition> ScrapeAsync()
    {
        var (status, text) = await fixture.GetAsync("/metrics");
        Assert.True(status == 200, text);
        return Exposition.Parse(text);
    }

    private sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    /// <summary>The Prometheus text format, strictly: HELP/TYPE comments, then <c>name{label="value",...} value</c> lines.</summary>
    private sealed partial record Exposition(List<Sample> Samples, Dictionary<string, string> Types)
    {
        public double Value(string name, string? le = null) =>
            Samples.Where(s => s.Name == name && (le is null || s.Labels.GetValueOrDefault("le") == le)).Sum(s => s.Value);

        public static Exposition Parse(string text)
        {
            var samples = new List<Sample>();
            var types = new Dictionary<string, string>();
            foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ');
                    Assert.Equal(4, parts.Length);
                    Assert.Matches(NameRegex(), parts[2]);
                    Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                    Assert.True(types.TryAdd(parts[2], parts[3]), $"two TYPE lines for {parts[2]}");
                    continue;
                }

                if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                    continue;
                var m = SampleRegex().Match(line);
                Assert.True(m.Success, $"not a sample line: {line}");
                var labels = new Dictionary<string, string>();
                foreach (Match l in LabelRegex().Matches(m.Groups["labels"].Value))
                    labels.Add(l.Groups[1].Value, l.Groups[2].Value);
                string value = m.Groups["value"].Value;
                samples.Add(new Sample(m.Groups["name"].Value, labels,
                    value == "+Inf" ? double.PositiveInfinity : double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture)));
            }

            foreach (var s in samples) // every sample belongs to a declared family
                Assert.Contains(types.Keys, t => s.Name == t || (types[t] == "histogram" && s.Name.StartsWith(t + "_", StringComparison.Ordinal)));
            return new Exposition(samples, types);
        }

        [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
        private static partial Regex NameRegex();

        [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*)\})? (?<value>\S+)( -?\d+)?$""")]
        private static partial Regex SampleRegex();

        [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)""")]
        private static partial Regex LabelRegex();
    }
}
