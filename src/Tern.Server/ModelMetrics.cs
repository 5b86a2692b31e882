using System.Text;
using System.Text.RegularExpressions;
using Prometheus;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// One model's router-facing metrics in its own prometheus-net registry, under vLLM's names (bucket boundaries as
/// vLLM's) and llama-server's where the concept matches. Gauges and engine counters are set from the engine's
/// stats at each scrape (<see cref="Update"/>); the latency histograms are observed as requests stream.
/// prometheus-net refuses the colon in metric names, so they are registered as <c>vllm_*</c> and <c>llamacpp_*</c>
/// and <see cref="ExportAsync"/> puts the colon back (the exposition format allows it).
/// </summary>
internal sealed partial class ModelMetrics
{
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
    private static readonly double[] ItlBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
    private static readonly double[] E2eBuckets = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];

    private readonly string _model;
    private readonly IMetricFactory _factory;
    private readonly Gauge.Child _running, _waiting, _kvUsage, _llamaProcessing, _llamaDeferred, _llamaKvUsage;
    private readonly Counter.Child _prefixQueries, _prefixHits, _promptTokens, _generationTokens, _llamaPromptTokens, _llamaPredicted, _llamaDecodes;
    private readonly Gauge _cacheConfig;
    private readonly Counter _success;

    public ModelMetrics(string model)
    {
        _model = model;
        _factory = Metrics.WithCustomRegistry(Registry);
        _running = Gauge("vllm_num_requests_running", "Number of requests in model execution batches.");
        _waiting = Gauge("vllm_num_requests_waiting", "Number of requests waiting to be processed.");
        _kvUsage = Gauge("vllm_kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
        _cacheConfig = _factory.CreateGauge("vllm_cache_config_info", "Information of the KV cache configuration (blocks in host memory).",
            new GaugeConfiguration { LabelNames = ["model_name", "block_size", "num_gpu_blocks"] });
        _prefixQueries = Counter("vllm_prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.");
        _prefixHits = Counter("vllm_prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.");
        _promptTokens = Counter("vllm_prompt_tokens_total", "Number of prefill tokens processed.");
        _generationTokens = Counter("vllm_generation_tokens_total", "Number of generation tokens processed.");
        _success = _factory.CreateCounter("vllm_request_success_total", "Count of successfully processed requests.",
            new CounterConfiguration { LabelNames = ["model_name", "finished_reason"] });
        TimeToFirstToken = Histogram("vllm_time_to_first_token_seconds", "Histogram of time to first token in seconds.", TtftBuckets);
        InterTokenLatency = Histogram("vllm_inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ItlBuckets);
        EndToEndLatency = Histogram("vllm_e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", E2eBuckets);
        _llamaProcessing = Gauge("llamacpp_requests_processing", "Number of requests processing.");
        _llamaDeferred = Gauge("llamacpp_requests_deferred", "Number of requests deferred.");
        _llamaKvUsage = Gauge("llamacpp_kv_cache_usage_ratio", "KV-cache usage. 1 means 100 percent usage.");
        _llamaPromptTokens = Counter("llamacpp_prompt_tokens_total", "Number of prompt tokens processed.");
        _llamaPredicted = Counter("llamacpp_tokens_predicted_total", "Number of generation tokens processed.");
        _llamaDecodes = Counter("llamacpp_n_decode_total", "Total number of llama_decode() calls.");
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    /// <summary>The registry as Prometheus text, under the colon names.</summary>
    public async Task<string> ExportAsync(CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(buffer, cancellation);
        return ColonPrefix().Replace(Encoding.UTF8.GetString(buffer.ToArray()), "$1$2:");
    }

    [GeneratedRegex("^(# (?:HELP|TYPE) )?(vllm|llamacpp)_", RegexOptions.Multiline)]
    private static partial Regex ColonPrefix();

    public Histogram.Child TimeToFirstToken { get; }

    public Histogram.Child InterTokenLatency { get; }

    public Histogram.Child EndToEndLatency { get; }

    /// <summary>A request that finished (not cancelled), by vLLM's finished_reason: stop or length.</summary>
    public void Succeeded(FinishReason reason) => _success.WithLabels(_model, reason == FinishReason.Length ? "length" : "stop").Inc();

    /// <summary>Sets the gauges and engine counters from a snapshot of the engine.</summary>
    public void Update(EngineStats s)
    {
        double usage = s.CacheUsage;
        _running.Set(s.ActiveSequences);
        _waiting.Set(s.QueueDepth);
        _kvUsage.Set(usage);
        _cacheConfig.WithLabels(_model, s.KvBlockTokens.ToString(), s.KvBlocksTotal.ToString()).Set(1);
        _prefixQueries.IncTo(s.PromptTokensProcessed + s.CachedPromptTokens);
        _prefixHits.IncTo(s.CachedPromptTokens);
        _promptTokens.IncTo(s.PromptTokensProcessed + s.CachedPromptTokens);
        _generationTokens.IncTo(s.GeneratedTokens);
        _llamaProcessing.Set(s.ActiveSequences);
        _llamaDeferred.Set(s.QueueDepth);
        _llamaKvUsage.Set(usage);
        _llamaPromptTokens.IncTo(s.PromptTokensProcessed);
        _llamaPredicted.IncTo(s.GeneratedTokens);
        _llamaDecodes.IncTo(s.Steps);
    }

    private Gauge.Child Gauge(string name, string help) =>
        _factory.CreateGauge(name, help, new GaugeConfiguration { LabelNames = ["model_name"] }).WithLabels(_model);

    private Counter.Child Counter(string name, string help) =>
        _factory.CreateCounter(name, help, new CounterConfiguration { LabelNames = ["model_name"] }).WithLabels(_model);

    private Histogram.Child Histogram(string name, string help, double[] buckets) =>
        _factory.CreateHistogram(name, help, new HistogramConfiguration { LabelNames = ["model_name"], Buckets = buckets }).WithLabels(_model);
}
