using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>GET /v1/models, /health, /props, /slots, /metrics; POST /tokenize, /detokenize.</summary>
internal sealed class InfoRoutes(TernServer server)
{
    public IResult Models()
    {
        var model = server.RequireModel();
        return Results.Json(new { @object = "list", data = new[] { Describe(model) } }, ServerJson.Options);
    }

    /// <summary>GET /v1/models/{id}: the served model by its name, or a 404 naming the ones served.</summary>
    public IResult Model(string id)
    {
        var model = server.RequireModel();
        return id == model.Name
            ? Results.Json(Describe(model), ServerJson.Options)
            : throw new ApiException(404, $"the model '{id}' does not exist (this server serves '{model.Name}')", "model", "model_not_found");
    }

    private static object Describe(ServedModel model) => new { id = model.Name, @object = "model", created = model.Created.ToUnixTimeSeconds(), owned_by = "tern" };

    public IResult Health() => server.Model is null
        ? Results.Json(new { status = server.LoadError is null ? "loading model" : "model failed to load" }, ServerJson.Options, statusCode: 503)
        : Results.Json(new { status = "ok" }, ServerJson.Options);

    public IResult Props()
    {
        var model = server.RequireModel();
        var d = model.Defaults;
        return Results.Json(new
        {
            model = model.Name,
            model_path = model.Model.File.Path,
            architecture = model.Model.Config.Architecture,
            n_ctx = model.Engine.ContextPerSequence,
            total_slots = model.Engine.Parallel,
            kv_cache_bytes = model.Engine.ReservedKvBytes,
            recurrent_state_bytes = model.Engine.ReservedRecurrentBytes,
            kv_cache_types = model.Engine.KvTypes,
            chat_template = model.Template.Source,
            chat_template_is_default = model.Template.IsFallback,
            default_generation_settings = new
            {
                temperature = d.Temperature,
                top_k = d.TopK,
                top_p = d.TopP,
                min_p = d.MinP,
                repeat_penalty = d.RepeatPenalty,
                repeat_last_n = d.RepeatLastN,
                presence_penalty = d.PresencePenalty,
                frequency_penalty = d.FrequencyPenalty,
            },
        }, ServerJson.Options);
    }

    public IResult Slots()
    {
        var stats = server.RequireModel().Engine.GetStats();
        return Results.Json(stats.Slots.Select(s => new
        {
            id = s.Id,
            state = s.State.ToString().ToLowerInvariant(),
            request_id = s.RequestId,
            prompt_tokens = s.PromptTokens,
            cached_tokens = s.CachedTokens,
            prompt_tokens_processed = s.PromptTokensProcessed,
            generated_tokens = s.GeneratedTokens,
        }), ServerJson.Options);
    }

    public IResult Metrics() => Results.Text(server.Metrics.Render(server.RequireModel().Engine.GetStats(), server.Tools?.AuditLog), "text/plain; version=0.0.4", Encoding.UTF8);

    public async Task<IResult> TokenizeAsync(HttpContext http)
    {
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        string content = r.String("content") ?? throw ApiException.BadRequest("'content' is required", "content", "missing_required_parameter");
        bool addSpecial = r.Bool("add_special") ?? false;
        bool parseSpecial = r.Bool("parse_special") ?? true;
        return Results.Json(new { tokens = model.Tokenizer.Encode(content, addSpecial, parseSpecial) }, ServerJson.Options);
    }

    public async Task<IResult> DetokenizeAsync(HttpContext http)
    {
        var model = server.RequireModel();
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        var tokens = r.Required("tokens", JsonValueKind.Array);
        var ids = new List<int>();
        foreach (var t in tokens.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id) || id < 0 || id >= model.VocabSize)
                throw ApiException.BadRequest($"'tokens' must hold token ids from 0 to {model.VocabSize - 1}", "tokens");
            ids.Add(id);
        }

        return Results.Json(new { content = model.Tokenizer.Decode(ids.ToArray()) }, ServerJson.Options);
    }
}

/// <summary>Prometheus text for GET /metrics, from the engine's counters and the server's own.</summary>
internal sealed class ServerMetrics
{
    private readonly object _gate = new();
    private long _requests;
    private (DateTime Time, long Prompt, long Generated) _lastScrape = (DateTime.UtcNow, 0, 0);

    public void Request() => Interlocked.Increment(ref _requests);

    public string Render(Tern.Runtime.Serving.EngineStats s, Tern.Tools.AuditLog? auditLog)
    {
        double promptRate, generatedRate;
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            double seconds = Math.Max((now - _lastScrape.Time).TotalSeconds, 1e-3);
            promptRate = (s.PromptTokensProcessed - _lastScrape.Prompt) / seconds;
            generatedRate = (s.GeneratedTokens - _lastScrape.Generated) / seconds;
            _lastScrape = (now, s.PromptTokensProcessed, s.GeneratedTokens);
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
        if (auditLog is not null)
        {
            Metric("audit_log_write_failures_total", "counter", "Audit log lines that failed to be written.", auditLog.WriteFailures);
            Metric("audit_log_dropped_total", "counter", "Audit log lines dropped because the writer fell behind.", auditLog.Dropped);
        }

        return text.ToString();
    }
}
