using System.Runtime.InteropServices;
using Tern.Gguf;

namespace Tern.Server.Tests;

/// <summary>
/// A model whose logits hold NaN gets a clear error naming it, never a token picked from garbage: a 500, since the
/// server's model is broken, not the request (and the same request would fail again).
/// </summary>
public sealed class BrokenModelTests
{
    [Fact]
    public async Task Nan_logits_get_an_error_that_says_so_instead_of_a_token()
    {
        using var temp = new TempDirectory();
        string model = WriteNanCopy(SharedData.Path("models/stories260K.gguf"), temp.File("nan.gguf"));
        await using var server = await TernServer.StartAsync(new ServerOptions { ModelPath = model, Port = 0 }, TextWriter.Null, TestContext.Current.CancellationToken);
        await server.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };

        foreach (string temperature in new[] { "0", "0.8" })
        {
            var response = await PostAsync(http, "/v1/completions", $$"""{"prompt": "Once upon a time", "max_tokens": 4, "temperature": {{temperature}}}""");
            Assert.Equal(500, (int)response.StatusCode);
            Assert.Contains("logits hold NaN (first at token 0 of", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        var stream = await PostAsync(http, "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": true}""");
        Assert.Equal(200, (int)stream.StatusCode); // the stream had started: the error is its last event
        string events = await stream.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains("\"error\"", events);
        Assert.Contains("logits hold NaN", events);
        Assert.Equal(200, (int)(await http.GetAsync("/health", TestContext.Current.CancellationToken)).StatusCode);
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string json) =>
        http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

    /// <summary>A copy of <paramref name="source"/> whose output row for token 0 is NaN, so logit 0 is NaN at every step.</summary>
    internal static string WriteNanCopy(string source, string target)
    {
        using var file = GgufFile.Open(source);
        string output = file.TryGetTensor("output.weight", out _) ? "output.weight" : "token_embd.weight";
        var writer = new GgufWriter(file.Version);
        foreach (var (key, value) in file.Metadata)
            writer.Add(key, value);
        foreach (var t in file.Tensors)
        {
            byte[] data = file.GetTensorBytes(t).ToArray();
            if (t.Name == output)
            {
                Assert.Equal(GgmlType.F32, t.Type);
                MemoryMarshal.Cast<byte, float>(data.AsSpan())[..(int)t.RowLength].Fill(float.NaN);
            }

            writer.AddTensor(t.Name, t.Dimensions, t.Type, data);
        }

        writer.WriteFile(target);
        return target;
    }
}
