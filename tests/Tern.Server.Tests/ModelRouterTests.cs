using Microsoft.Extensions.Logging;

namespace Tern.Server.Tests;

/// <summary>The router's bookkeeping without HTTP: a model with a request in flight is never unloaded under it.</summary>
public sealed class ModelRouterTests : IAsyncLifetime
{
    private readonly string _directory = RouterServer.CreateDirectory();

    private ModelRouter Create(int modelsMax) =>
        new(new ServerOptions { Parallel = 1, ContextPerSequence = 128, ModelsMax = modelsMax, Models = ModelCatalog.FromDirectory(_directory) }, new StringWriter());

    [Fact]
    public async Task A_busy_model_is_not_unloaded_and_the_other_load_gets_a_503_until_its_request_ends()
    {
        await using var router = Create(modelsMax: 1);
        var stories = router.Find("stories");
        var qwen = router.Find("qwen3");

        var lease = await router.AcquireAsync(stories, null, TestContext.Current.CancellationToken);
        var refused = await Assert.ThrowsAsync<ApiException>(() => router.AcquireAsync(qwen, null, TestContext.Current.CancellationToken));

        Assert.Equal(503, refused.Status);
        Assert.Equal("model_capacity", refused.Code);
        Assert.Contains("--models-max 1", refused.Message);
        Assert.Equal(ModelState.Loaded, stories.State);

        lease.Dispose();
        using var second = await router.AcquireAsync(qwen, null, TestContext.Current.CancellationToken);
        Assert.Equal(ModelState.Unloaded, stories.State);
        Assert.Equal(ModelState.Loaded, qwen.State);
    }

    [Fact]
    public async Task Unloading_a_model_with_a_request_in_flight_is_a_409_and_works_once_it_ends()
    {
        await using var router = Create(modelsMax: 4);
        var stories = router.Find("stories");

        var lease = await router.AcquireAsync(stories, null, TestContext.Current.CancellationToken);
        var busy = Assert.Throws<ApiException>(() => router.Unload(stories));

        Assert.Equal(409, busy.Status);
        Assert.Equal("model_busy", busy.Code);
        lease.Dispose();
        router.Unload(stories);
        Assert.Equal(ModelState.Unloaded, stories.State);
    }

    [Fact]
    public async Task The_least_recently_used_idle_model_is_the_one_unloaded()
    {
        await using var router = Create(modelsMax: 2);
        foreach (string name in new[] { "stories", "qwen3", "stories", "llama" })
            (await router.AcquireAsync(router.Find(name), null, TestContext.Current.CancellationToken)).Dispose();

        Assert.Equal(ModelState.Loaded, router.Find("stories").State);
        Assert.Equal(ModelState.Unloaded, router.Find("qwen3").State);
        Assert.Equal(ModelState.Loaded, router.Find("llama").State);
    }

    [Fact]
    public async Task Loaded_models_share_one_worker_pool_decode_at_once_and_report_their_loading()
    {
        var progress = new System.Collections.Concurrent.ConcurrentQueue<Tern.Models.LoadProgress>();
        var options = new ServerOptions { Parallel = 1, ContextPerSequence = 128, Threads = 2, Models = ModelCatalog.FromDirectory(_directory), LoadProgress = progress.Enqueue };
        await using var router = new ModelRouter(options, new StringWriter());
        var ct = TestContext.Current.CancellationToken;
        using var qwen = await router.AcquireAsync(router.Find("qwen3"), null, ct);
        string alone = await GreedyAsync(qwen.Model, ct);
        using var llama = await router.AcquireAsync(router.Find("llama"), null, ct);

        var pool = Assert.IsAssignableFrom<Tern.Models.DecoderModel>(qwen.Model.Model).Pool;
        Assert.Same(pool, Assert.IsAssignableFrom<Tern.Models.DecoderModel>(llama.Model.Model).Pool);
        Assert.Equal(2, pool.ThreadCount);
        // Both decode at once, their passes taking turns on the one pool: the same greedy answer as alone.
        var both = await Task.WhenAll(GreedyAsync(qwen.Model, ct), GreedyAsync(llama.Model, ct));
        Assert.Equal(alone, both[0]);
        foreach (string model in new[] { "qwen3.gguf", "llama.gguf" })
        {
            var last = progress.Last(p => p.Path.EndsWith(model, StringComparison.Ordinal));
            Assert.True(last.Repacked == last.ToRepack && last.ToRepack > 0, model);
        }

        Assert.Matches(@"^[\d.]+ MiB mapped, repacked (\d+)/\1 tensors$", router.Find("llama").DescribeProgress()); // what a waiting stream is told
    }

    private static async Task<string> GreedyAsync(ServedModel model, CancellationToken ct)
    {
        var request = new Tern.Runtime.Serving.GenerationRequest
        {
            PromptTokens = model.Tokenizer.Encode("Once upon a time"),
            Sampling = model.Defaults with { Temperature = 0 },
            MaxTokens = 16,
        };
        var text = new System.Text.StringBuilder();
        await foreach (var e in model.Engine.Submit(request, ct))
        {
            if (e is Tern.Runtime.Serving.GenerationDelta d)
                text.Append(d.Text);
        }

        return text.ToString();
    }

    [Fact]
    public void Two_models_with_one_name_are_refused_at_start()
    {
        var e = Assert.Throws<ArgumentException>(() => new ModelRouter(new ServerOptions { Models = [new("a", "/x/a.gguf"), new("a", "/y/a.gguf")] }, new StringWriter()));

        Assert.Contains("two models are named 'a'", e.Message);
    }

    [Fact]
    public void A_split_model_is_listed_once_by_its_first_part_and_counted_whole()
    {
        File.WriteAllBytes(Path.Combine(_directory, "big-00001-of-00002.gguf"), new byte[100]);
        File.WriteAllBytes(Path.Combine(_directory, "big-00002-of-00002.gguf"), new byte[50]);

        var big = ModelCatalog.FromDirectory(_directory).Single(m => m.Name.StartsWith("big", StringComparison.Ordinal));

        Assert.Equal("big", big.Name);
        Assert.EndsWith("big-00001-of-00002.gguf", big.Path);
        Assert.Equal(150, ModelCatalog.FileBytes(big.Path));
    }

    [Fact]
    public async Task Loads_unloads_and_failures_go_to_the_server_log()
    {
        var logger = new RecordingLogger();
        await using (var router = new ModelRouter(new ServerOptions { Parallel = 1, ContextPerSequence = 128, ModelsMax = 1, Models = ModelCatalog.FromDirectory(_directory) }, new StringWriter(), logger))
        {
            (await router.AcquireAsync(router.Find("stories"), null, TestContext.Current.CancellationToken)).Dispose();
            (await router.AcquireAsync(router.Find("llama"), null, TestContext.Current.CancellationToken)).Dispose();
            await Assert.ThrowsAsync<ApiException>(() => router.AcquireAsync(router.Find("broken"), null, TestContext.Current.CancellationToken));
        }

        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Message.StartsWith("model stories loaded from ", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Message == "model stories unloaded (least recently used) to load llama");
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Error && l.Message.StartsWith("model broken failed to load from ", StringComparison.Ordinal));
    }

    private sealed class RecordingLogger : ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue((logLevel, formatter(state, exception)));
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }
}
