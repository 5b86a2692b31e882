using System.Net.Http.Json;
using System.Text.Json;
using Tern.Gguf;
using Tern.Models.Tests;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>`tern serve` starts every request from the file's general.sampling.* recommendation; the request's own
/// parameters still win, and an unusable recommendation fails the load naming the key.</summary>
public sealed class RecommendedSamplingServerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Requests_start_from_the_recommended_sampling_and_their_own_parameters_win()
    {
        var ct = TestContext.Current.CancellationToken;
        // temp 0 recommended: a request that names no temperature is greedy (stories260K's family default is 0.8)
        string model = Copy(new()
        {
            ["general.sampling.temp"] = GgufValue.From(0f),
            ["general.sampling.top_k"] = GgufValue.From(20),
            ["general.sampling.top_p"] = GgufValue.From(0.9f),
            ["general.sampling.penalty_last_n"] = GgufValue.From(32),
        });
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = model, Port = 0, Parallel = 2 }, TextWriter.Null, ct);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        var settings = JsonDocument.Parse(await http.GetStringAsync("/props", ct)).RootElement.GetProperty("default_generation_settings");
        Assert.Equal(0f, settings.GetProperty("temperature").GetSingle());
        Assert.Equal(20, settings.GetProperty("top_k").GetInt32());
        Assert.Equal(0.9f, settings.GetProperty("top_p").GetSingle());
        Assert.Equal(0.05f, settings.GetProperty("min_p").GetSingle()); // not in the file: llama.cpp's default
        Assert.Equal(32, settings.GetProperty("repeat_last_n").GetInt32());

        string greedy = await CompleteAsync(http, new { prompt = "Once upon a time", max_tokens = 16, temperature = 0 }, ct);
        Assert.Equal(greedy, await CompleteAsync(http, new { prompt = "Once upon a time", max_tokens = 16 }, ct));
        Assert.Equal(greedy, await CompleteAsync(http, new { prompt = "Once upon a time", max_tokens = 16, seed = 5 }, ct));

        // a request's temperature overrides the file's: hot sampling over the whole vocabulary leaves the greedy path
        var sampled = new List<string>();
        for (int seed = 1; seed <= 4; seed++)
            sampled.Add(await CompleteAsync(http, new { prompt = "Once upon a time", max_tokens = 16, temperature = 1.5, top_k = 0, top_p = 1, min_p = 0, seed }, ct));
        Assert.Contains(sampled, text => text != greedy);
    }

    [Fact]
    public async Task An_unusable_recommendation_fails_the_load_naming_the_key()
    {
        var ct = TestContext.Current.CancellationToken;
        string model = Copy(new() { ["general.sampling.temp"] = GgufValue.From(float.NaN) });
        var log = new StringWriter();
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = model, Port = 0 }, log, ct);
        await Assert.ThrowsAnyAsync<Exception>(server.WaitUntilReadyAsync);
        Assert.Contains("metadata 'general.sampling.temp' is NaN; it must be a finite number", log.ToString());
    }

    private static async Task<string> CompleteAsync(HttpClient http, object request, CancellationToken ct)
    {
        var response = await http.PostAsJsonAsync("/v1/completions", request, ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        Assert.True((int)response.StatusCode == 200, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    private string Copy(Dictionary<string, GgufValue> metadata) =>
        ModelFiles.Rewrite(SharedData.Path("models/stories260K.gguf"), _temp.File($"{Guid.NewGuid():N}.gguf"), metadata);
}
