using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Tern.Server;

/// <summary>GET /v1/models, /health, /props, /slots, /metrics; POST /tokenize, /detokenize.</summary>
internal sealed class InfoRoutes(TernServer server)
{
    /// <summary>GET /v1/models (and /models): the served model; in router mode every model, with its state as llama-server shows it.</summary>
    public IResult Models()
    {
        if (server.Router is { } router)
            return Results.Json(new { @object = "list", data = router.Models.Select(Describe).ToArray() }, ServerJson.Options);
        var model = server.RequireModel();
        return Results.Json(new { @object = "list", data = new[] { Describe(model) } }, ServerJson.Options);
    }

    /// <summary>GET /v1/models/{id}: the served model by its name, or a 404 naming the ones served.</summary>
    public IResult Model(string id)
    {
        if (server.Router is { } router)
            return Results.Json(Describe(router.Find(id)), ServerJson.Options);
        var model = server.RequireModel();
        return id == model.Name
            ? Results.Json(Describe(model), ServerJson.Options)
            : throw new ApiException(404, $"the model '{id}' does not exist (this server serves '{model.Name}')", "model", "model_not_found");
    }

    private static object Describe(ServedModel model) => new { id = model.Name, @object = "model", created = model.Created.ToUnixTimeSeconds(), owned_by = "tern" };

    /// <summary>A router model: OpenAI's fields, then llama-server router's (<c>path</c>, <c>status.value</c>) and the failure's reason.</summary>
    private static object Describe(RoutedModel m)
    {
        string state = m.State.ToString().ToLowerInvariant();
        object status = m.State switch
        {
            ModelState.Failed => new { value = state, failed = true, error = m.Error },
            ModelState.Loading => new { value = state, progress = m.DescribeProgress() },
            _ => new { value = state },
        };
        return new
        {
            id = m.Name,
            @object = "model",
            created = new DateTimeOffset(File.GetLastWriteTimeUtc(m.Entry.Path)).ToUnixTimeSeconds(),
            owned_by = "tern",
            path = m.Entry.Path,
            source = m.Entry.Source,
            in_cache = m.Entry.Source == "cache",
            size = m.FileBytes,
            status,
        };
    }

    /// <summary>POST /models/load {"model": NAME}: loads it (a failed model: tries again) and answers once it is loaded.</summary>
    public async Task<IResult> LoadAsync(HttpContext http)
    {
        var (router, m) = await RouterModelAsync(http);
        await router.LoadAsync(m, http.RequestAborted);
        return Results.Json(new { success = true, model = m.Name, status = new { value = "loaded" } }, ServerJson.Options);
    }

    /// <summary>POST /models/unload {"model": NAME}: frees it; 409 while it answers requests or is loading.</summary>
    public async Task<IResult> UnloadAsync(HttpContext http)
    {
        var (router, m) = await RouterModelAsync(http);
        router.Unload(m);
        return Results.Json(new { success = true, model = m.Name, status = new { value = "unloaded" } }, ServerJson.Options);
    }

    private async Task<(ModelRouter Router, RoutedModel Model)> RouterModelAsync(HttpContext http)
    {
        var router = server.Router ?? throw new ApiException(404, "this server serves one model; loading and unloading models needs router mode (tern serve --models-dir DIR)", code: "not_found");
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        RequestFields.Check(r, ModelFields, http.Request.Path);
        string name = r.String("model") ?? throw ApiException.BadRequest("'model' is required", "model", "missing_required_parameter");
        return (router, router.Find(name));
    }

    private static readonly IReadOnlySet<string> ModelFields = new HashSet<string> { "model" };

    /// <summary>GET /health: 503 until the one model is loaded; in router mode the server is up without any.</summary>
    public IResult Health() => server.Model is null && server.Router is null
        ? Results.Json(new { status = server.LoadError is null ? "loading model" : "model failed to load" }, ServerJson.Options, statusCode: 503)
        : Results.Json(new { status = "ok" }, ServerJson.Options);

    public async Task<IResult> Props(HttpContext http)
    {
        if (server.Router is { } router && string.IsNullOrEmpty(http.Request.Query["model"]) && router.Models.Count(m => m.State == ModelState.Loaded) != 1)
            return Results.Json(new { role = "router", models = router.Models.Count }, ServerJson.Options); // as llama-server's router answers
        using var lease = await server.AcquireAsync(http);
        var model = lease.Model;
        var d = model.Defaults;
        // the built-in tools every tool-enabled prompt carries, and what they cost this model's prompts
        var tools = server.Tools is { } set
            ? new
            {
                names = set.Tools.Select(t => t.Name).ToArray(),
                prompt_tokens = await model.Template.ToolTokensAsync(BuiltinTools.All(set).AddSchemas(null), http.RequestAborted),
            }
            : null;
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
            tools,
        }, ServerJson.Options);
    }

    public async Task<IResult> Slots(HttpContext http)
    {
        using var lease = await server.AcquireAsync(http);
        var stats = lease.Model.Engine.GetStats();
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

    public async Task<IResult> Metrics(HttpContext http)
    {
        using var lease = await server.AcquireAsync(http);
        string text = await server.Metrics.RenderAsync(lease.Model.Name, lease.Model.Engine.GetStats(), server.Tools?.AuditLog, http.RequestAborted);
        return Results.Text(text, "text/plain; version=0.0.4", Encoding.UTF8);
    }

    public async Task<IResult> TokenizeAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
        string content = r.String("content") ?? throw ApiException.BadRequest("'content' is required", "content", "missing_required_parameter");
        bool addSpecial = r.Bool("add_special") ?? false;
        bool parseSpecial = r.Bool("parse_special") ?? true;
        return Results.Json(new { tokens = model.Tokenizer.Encode(content, addSpecial, parseSpecial) }, ServerJson.Options);
    }

    public async Task<IResult> DetokenizeAsync(HttpContext http)
    {
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted);
        using var lease = await server.AcquireAsync(http, r);
        var model = lease.Model;
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
