using System.Text.Json;

namespace Tern.Models.Tests;

/// <summary>
/// llama.cpp 2026's token embeddings (tests/Tern.Models.Tests/embeddings, made by its make.sh): a model, a prompt, its
/// token ids, and each token's hidden state after the output norm, [tokens, n_embd].
/// </summary>
public sealed record EmbeddingReference(string Name, string ModelPath, string Prompt, int[] Tokens, int Dimensions, float[] Vectors)
{
    public static readonly string[] Names = ["llama-tiny-f32", "llama-tiny-q8_0", "qwen3-tiny-q8_0", "gemma3-tiny-q8_0"];

    public static EmbeddingReference Load(string name)
    {
        string prefix = SharedData.Repository($"tests/Tern.Models.Tests/embeddings/{name}");
        var json = JsonDocument.Parse(File.ReadAllText(prefix + ".json")).RootElement;
        var bytes = File.ReadAllBytes(prefix + ".f32");
        var vectors = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, vectors, 0, bytes.Length);
        return new EmbeddingReference(name, SharedData.Path(json.GetProperty("model").GetString()!), json.GetProperty("prompt").GetString()!,
            [.. json.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32())], json.GetProperty("n_embd").GetInt32(), vectors);
    }

    public ReadOnlySpan<float> Token(int i) => Vectors.AsSpan(i * Dimensions, Dimensions);

    /// <summary>The pooled vector (mean, first or last token), L2-normalised, as an embeddings API returns it.</summary>
    public float[] Pooled(string pooling)
    {
        var pooled = new float[Dimensions];
        IEnumerable<int> rows = pooling switch
        {
            "mean" => Enumerable.Range(0, Tokens.Length),
            "cls" => [0],
            "last" => [Tokens.Length - 1],
            _ => throw new ArgumentOutOfRangeException(nameof(pooling)),
        };
        foreach (int i in rows)
            System.Numerics.Tensors.TensorPrimitives.Add(pooled, Token(i), pooled);
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm(pooled);
        System.Numerics.Tensors.TensorPrimitives.Divide(pooled, norm, pooled);
        return pooled;
    }
}
