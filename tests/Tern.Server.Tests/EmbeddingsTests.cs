using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;
using Tern.Models.Tests;
using Tern.Runtime.Serving;

namespace Tern.Server.Tests;

/// <summary>llama-tiny-q8_0 served with default pooling (the model names none: mean).</summary>
public sealed class EmbeddingServerFixture : ServerFixture
{
    protected override ServerOptions Options => base.Options with { ModelPath = SharedData.Path("models/llama-tiny-q8_0.gguf"), Alias = "llama-tiny", Parallel = 4 };
}

/// <summary>
/// POST /v1/embeddings against llama.cpp 2026's token embeddings of the same prompt (pooled and normalised in the
/// test, see <see cref="EmbeddingReference"/>), through raw HTTP, the official OpenAI .NET SDK and the openai npm package.
/// </summary>
public sealed class EmbeddingsTests(EmbeddingServerFixture fixture) : IClassFixture<EmbeddingServerFixture>
{
    private static readonly EmbeddingReference Reference = EmbeddingReference.Load("llama-tiny-q8_0");

    /// <summary>Relative L2 distance to the reference (each token's state is within 2–3 % of llama.cpp's, see HiddenStateTests).</summary>
    private const double Tolerance = 5e-2;

    [Fact]
    public async Task Mean_pooled_embedding_matches_llama_cpp()
    {
        var (status, body, _) = await Embed(new { input = Reference.Prompt });

        Assert.Equal(200, status);
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal("llama-tiny", body.GetProperty("model").GetString());
        var item = Assert.Single(body.GetProperty("data").EnumerateArray().ToList());
        Assert.Equal("embedding", item.GetProperty("object").GetString());
        Assert.Equal(0, item.GetProperty("index").GetInt32());
        float[] vector = Floats(item.GetProperty("embedding"));
        Assert.Equal(Reference.Dimensions, vector.Length);
        AssertClose(Reference.Pooled("mean"), vector);
        Assert.Equal(Reference.Tokens.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(Reference.Tokens.Length, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Theory]
    [InlineData(Pooling.Last, "last")]
    [InlineData(Pooling.Cls, "cls")]
    [InlineData(Pooling.Mean, "mean")]
    public async Task The_pooling_flag_picks_the_token_states(Pooling pooling, string name)
    {
        var options = fixture.Server.Options with { Port = 0, Pooling = pooling };
        await using var server = await TernServer.StartAsync(options, TextWriter.Null, TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        for (int round = 0; round < 2; round++) // the second run may reuse the cached prefix (last pooling): same vector
        {
            var response = await http.PostAsync("/v1/embeddings", Json(new { input = Reference.Prompt }), TestContext.Current.CancellationToken);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
            AssertClose(Reference.Pooled(name), Floats(body.GetProperty("data")[0].GetProperty("embedding")));
        }
    }

    [Fact]
    public async Task Several_inputs_keep_their_order_and_match_single_requests()
    {
        string[] texts = ["a cat", Reference.Prompt, "the dog barks at the moon and the cat sleeps"];
        var (_, batch, _) = await Embed(new { input = texts });
        var data = batch.GetProperty("data").EnumerateArray().ToList();

        Assert.Equal([0, 1, 2], data.Select(d => d.GetProperty("index").GetInt32()));
        for (int i = 0; i < texts.Length; i++)
        {
            var (_, single, _) = await Embed(new { input = texts[i] });
            Assert.Equal(Floats(single.GetProperty("data")[0].GetProperty("embedding")), Floats(data[i].GetProperty("embedding")));
        }
    }

    [Fact]
    public async Task Token_ids_embed_as_their_text()
    {
        var (_, text, _) = await Embed(new { input = Reference.Prompt });
        var (_, ids, _) = await Embed(new { input = Reference.Tokens });
        var (_, nested, _) = await Embed(new { input = new[] { Reference.Tokens, Reference.Tokens[..5] } });

        float[] expected = Floats(text.GetProperty("data")[0].GetProperty("embedding"));
        Assert.Equal(expected, Floats(ids.GetProperty("data")[0].GetProperty("embedding")));
        Assert.Equal(expected, Floats(nested.GetProperty("data")[0].GetProperty("embedding")));
        Assert.Equal(2, nested.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Dimensions_truncate_and_renormalise()
    {
        var (_, full, _) = await Embed(new { input = Reference.Prompt });
        var (status, cut, _) = await Embed(new { input = Reference.Prompt, dimensions = 64 });

        Assert.Equal(200, status);
        float[] head = Floats(full.GetProperty("data")[0].GetProperty("embedding"))[..64];
        float[] truncated = Floats(cut.GetProperty("data")[0].GetProperty("embedding"));
        Assert.Equal(64, truncated.Length);
        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(truncated), 4);
        float scale = System.Numerics.Tensors.TensorPrimitives.Norm(head);
        for (int i = 0; i < 64; i++)
            Assert.Equal(head[i] / scale, truncated[i], 5);
    }

    [Fact]
    public async Task Base64_holds_the_same_floats()
    {
        var (_, floats, _) = await Embed(new { input = Reference.Prompt });
        var (_, encoded, _) = await Embed(new { input = Reference.Prompt, encoding_format = "base64" });

        byte[] bytes = Convert.FromBase64String(encoded.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        var decoded = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, decoded, 0, bytes.Length);
        Assert.Equal(Floats(floats.GetProperty("data")[0].GetProperty("embedding")), decoded);
    }

    [Fact]
    public async Task The_official_OpenAI_SDK_embeds()
    {
        var client = new EmbeddingClient("llama-tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(fixture.Server.Address + "/v1") });
        var result = await client.GenerateEmbeddingsAsync([Reference.Prompt, "a cat"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(2, result.Value.Count);
        AssertClose(Reference.Pooled("mean"), result.Value[0].ToFloats().ToArray());
        Assert.Equal(1, result.Value[1].Index);
    }

    [Fact]
    public async Task The_openai_npm_package_embeds()
    {
        var result = await Npm.NodeAsync($"embeddings.mjs {fixture.Server.Address}/v1 \"{Reference.Prompt}\" \"a cat\"");
        Assert.Equal(2, result.GetProperty("vectors").GetArrayLength());
        AssertClose(Reference.Pooled("mean"), Floats(result.GetProperty("vectors")[0]));
    }

    [Theory]
    [InlineData("""{}""", "input", "missing_required_parameter")]
    [InlineData("""{"input": ""}""", "input", "invalid_value")]
    [InlineData("""{"input": []}""", "input", "invalid_value")]
    [InlineData("""{"input": 5}""", "input", "invalid_type")]
    [InlineData("""{"input": ["ok", 7]}""", "input[1]", "invalid_type")]
    [InlineData("""{"input": ["ok", ""]}""", "input[1]", "invalid_value")]
    [InlineData("""{"input": [1, 2, 99999]}""", "input[2]", "invalid_value")]
    [InlineData("""{"input": [[1, -2]]}""", "input[0][1]", "invalid_value")]
    [InlineData("""{"input": "hi", "dimensions": 0}""", "dimensions", "invalid_value")]
    [InlineData("""{"input": "hi", "dimensions": 257}""", "dimensions", "invalid_value")]
    [InlineData("""{"input": "hi", "encoding_format": "int8"}""", "encoding_format", "invalid_value")]
    [InlineData("""{"input": "hi", "pooling": "max"}""", "pooling", "unknown_parameter")]
    public async Task Bad_requests_are_a_400_naming_the_parameter(string body, string param, string code)
    {
        var (status, error, _) = await fixture.PostAsync("/v1/embeddings", body);

        Assert.Equal(400, status);
        Assert.Equal(param, error.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Too_many_inputs_or_tokens_are_refused()
    {
        var (many, manyError, _) = await Embed(new { input = Enumerable.Repeat("x", 2049).ToArray() });
        var (long_, longError, _) = await Embed(new { input = Enumerable.Repeat(5, fixture.Server.Model!.Engine.ContextPerSequence + 1).ToArray() });

        Assert.Equal(400, many);
        Assert.Contains("2048", manyError.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(400, long_);
        Assert.Equal("context_length_exceeded", longError.GetProperty("error").GetProperty("code").GetString());
    }

    private Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Embed(object request) =>
        fixture.PostAsync("/v1/embeddings", JsonSerializer.Serialize(request));

    private static StringContent Json(object request) => new(JsonSerializer.Serialize(request), System.Text.Encoding.UTF8, "application/json");

    private static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetSingle())];

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(actual), 4);
        var difference = new float[expected.Length];
        System.Numerics.Tensors.TensorPrimitives.Subtract(expected, actual, difference);
        double distance = System.Numerics.Tensors.TensorPrimitives.Norm(difference);
        Assert.True(distance < Tolerance, $"L2 distance {distance:E2} to llama.cpp's normalised vector (limit {Tolerance})");
    }
}
