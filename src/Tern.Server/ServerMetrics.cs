using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Prometheus;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// Prometheus text for GET /metrics (per model: <c>?model=</c> in router mode): Tern's own <c>tern_*</c> lines, then
/// the names routers read — vLLM's <c>vllm:*</c> and llama-server's <c>llamacpp:*</c>, labelled with <c>model_name</c>.
/// Those come from a prometheus-net registry per model (never the static default one: one process can run many servers).
/// </summary>
internal sealed class ServerMetrics
{
    private readonly object _gate = new();
    private long _requests;
    private readonly Dictionary<string, (DateTime Time, long Prompt, long Generated)> _lastScrape = []; // per model
    private readonly Dictionary<string, ModelMetrics> _models = [];
    private readonly DateTime _created = DateTime.UtcNow;

    public void Request() => Interlocked.Increment(ref _requests);

    /// <summary>
    /// Passes a turn's events through, timing them: time to first token and end-to-end latency from now (the
    /// submission), the gaps between tokens after the first, and the request's success by its finish reason.
    /// </summary>
    public IAsyncEnumerable<GenerationEvent> Timed(string model, IAsyncEnumerable<GenerationEvent> events) =>
        TimedAsync(For(model), events, Stopwatch.GetTimestamp());

    private static async IAsyncEnumerable<GenerationEvent> TimedAsync(ModelMetrics m, IAsyncEnumerable<GenerationEvent> events, long start,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        long last = 0;
        await foreach (var e in events.WithCancellation(cancellation))
        {
            if (e is GenerationDelta { Tokens.Count: > 0 } d)
            {
                long now = Stopwatch.GetTimestamp();
                if (last == 0)
                    m.TimeToFirstToken.Observe(Stopwatch.GetElapsedTime(start, now).TotalSeconds);
                else
                    m.InterTokenLatency.Observe(Stopwatch.GetElapsedTime(last, now).TotalSeconds / d.Tokens.Count, d.Tokens.Count);
                last = now;
            }
            else if (e is GenerationFinished f)
            {
                m.EndToEndLatency.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);
                if (f.Reason != FinishReason.Cancelled)
                    m.Succeeded(f.Reason);
            }

            yield return e;
        }
    }

    private ModelMetrics For(string model)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue(model, out var m))
                _models[model] = m = new ModelMetrics(model);
            return m;
        }
    }

    public async Task<string> RenderAsync(string model, EngineStats s, Tern.Tools.AuditLog? auditLog, CancellationToken cancellation)
    {
        var text = new StringBuilder(RenderTern(model, s, auditLog));
        var m = For(model);
        m.Update(s);
        text.Append(await m.ExportAsync(cancellation));
        return text.ToString();
    }

    private string RenderTern(string model, EngineStats s, Tern.Tools.AuditLog? auditLog)
    {
        double promptRate, generatedRate;
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            var last = _lastScrape.GetValueOrDefault(model, (_created, 0, 0));
            double seconds = Math.Max((now - last.Time).TotalSeconds, 1e-3);
            promptRate = Math.Max(s.PromptTokensProcessed - last.Prompt, 0) / seconds; // 0 after a reload restarted the counters
            generatedRate = Math.Max(s.GeneratedTokens - last.Generated, 0) / seconds;
            _lastScrape[model] = (now, s.PromptTokensProcessed, s.GeneratedTokens);
        }

        var text = new StringBuilder();
        void Metric(string name, string type, string help, double value)
        {
            text.Append(CultureInfo.InvariantCulture, $"# HELP tern_{name} {help}\n# TYPE tern_{name} {type}\n");
            text.Append(CultureInfo.InvariantCulture, $"tern_{name} {value}\n");
        }

        Metric("requests_total", "counter", "Completion requests received.", Interlocked.Read(ref _requests));
        Metric("requests_finished_total", "counter", "Requests that finished generating.", s.RequestsFinished);
        Metric("requests_cancelled_total", "counter", "Requests cancelled (client gone).", s.RequestsCancelled);
        Metric("requests_rejected_total", "counter", "Requests refused by admission (queue full).", s.RequestsRejected);
        Metric("prompt_tokens_total", "counter", "Prompt tokens run through the model.", s.PromptTokensProcessed);
        Metric("prompt_tokens_cached_total", "counter", "Prompt tokens reused from the prefix cache.", s.CachedPromptTokens);
        Metric("generated_tokens_total", "counter", "Tokens generated.", s.GeneratedTokens);
        Metric("prompt_tokens_per_second", "gauge", "Prompt tokens per second since the last scrape.", Math.Round(promptRate, 3));
        Metric("generated_tokens_per_second", "gauge", "Generated tokens per second since the last scrape.", Math.Round(generatedRate, 3));
        Metric("prefix_cache_hits_total", "counter", "Requests that reused cached prefix blocks.", s.PrefixCacheHits);
        Metric("queue_depth", "gauge", "Requests waiting for a sequence slot.", s.QueueDepth);
        Metric("active_sequences", "gauge", "Sequences prefilling or decoding.", s.ActiveSequences);
        Metric("kv_blocks_used", "gauge", "KV cache blocks in use.", s.KvBlocksUsed);
        Metric("kv_blocks_cached", "gauge", "KV cache blocks held only by the prefix cache.", s.KvBlocksCachedOnly);
        Metric("kv_blocks_total", "gauge", "KV cache blocks in the pool.", s.KvBlocksTotal);
        DiskCacheMetrics(s, Metric);
        if (auditLog is not null)
        {
            Metric("audit_log_write_failures_total", "counter", "Audit log lines that failed to be written.", auditLog.WriteFailures);
            Metric("audit_log_dropped_total", "counter", "Audit log lines dropped because the writer fell behind.", auditLog.Dropped);
        }

        return text.ToString();
    }

    /// <summary>The prefix cache's disk tier (--cache-dir), when there is one.</summary>
    private static void DiskCacheMetrics(EngineStats s, Action<string, string, string, double> metric)
    {
        if (s.DiskCache is not { } disk)
            return;
        metric("disk_cache_enabled", "gauge", "1 while the disk tier works; 0 after an I/O error or a full disk turned it off.", disk.Enabled ? 1 : 0);
        metric("disk_cache_hit_tokens_total", "counter", "Prompt tokens whose KV blocks were read from disk.", s.DiskCacheHitTokens);
        metric("disk_cache_files", "gauge", "Block files on disk.", disk.Files);
        metric("disk_cache_bytes", "gauge", "Bytes of the block files on disk.", disk.Bytes);
        metric("disk_cache_writes_total", "counter", "Block files written.", disk.Writes);
        metric("disk_cache_written_bytes_total", "counter", "Bytes of block files written.", disk.WrittenBytes);
        metric("disk_cache_skipped_total", "counter", "Blocks not written because the writer's queue was full.", disk.Skipped);
        metric("disk_cache_evictions_total", "counter", "Block files deleted to stay within --cache-disk-size.", disk.Evictions);
        metric("disk_cache_errors_total", "counter", "I/O errors of the disk tier.", disk.Errors);
        metric("disk_cache_rejected_total", "counter", "Block files deleted unread: temporary, cut short, of another layout or damaged.", disk.Rejected);
    }
}
