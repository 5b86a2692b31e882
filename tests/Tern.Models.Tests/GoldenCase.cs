using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tern.Gguf;
using Tern.Tokenizers;

namespace Tern.Models.Tests;

/// <summary>One reference case from ../shared/golden: a model, a prompt, llama.cpp's tokens and logits.</summary>
public sealed record GoldenCase(string Name, string ModelPath, string Prompt, int[] Tokens, int VocabSize, int[] Positions, float[] Logits)
{
    private static readonly ConcurrentDictionary<string, Lazy<GoldenResult>> Results = new();
    private static readonly ConcurrentDictionary<string, Lazy<GoldenResult>> UnrepackedResults = new();

    /// <summary>The cases of golden/ (names like <c>llama-tiny-q8_0.p1</c>).</summary>
    public static IEnumerable<string> Names() => NamesIn("golden");

    /// <summary>The cases of golden/2026 for the architectures Tern runs (names like <c>2026/qwen3-tiny-f32.p1</c>).</summary>
    public static IEnumerable<string> Names2026() => Architectures2026.SelectMany(Names2026);

    private static IEnumerable<string> NamesIn(string folder) =>
        Directory.GetFiles(SharedData.Path(folder), "*.json")
            .Select(f => Path.GetFileNameWithoutExtension(f))
            .Order(StringComparer.Ordinal);

    /// <summary>The architectures Tern runs whose references are in ../shared/golden/2026 ("llama": the IQ4_NL and
    /// IQ4_XS files, llama-tiny-*; not llama-moe-tiny-*).</summary>
    public static readonly string[] Architectures2026 = ["qwen3", "qwen3moe", "gemma3", "qwen35moe", "llama"];

    /// <summary>The cases of ../shared/golden/2026 for an architecture's models, named "2026/&lt;model&gt;.pN".</summary>
    public static IEnumerable<string> Names2026(string architecture) =>
        Directory.GetFiles(SharedData.Path("golden/2026"), architecture + "-tiny-*.json")
            .Select(f => "2026/" + Path.GetFileNameWithoutExtension(f))
            .Order(StringComparer.Ordinal);

    public static GoldenCase Load(string name)
    {
        string path = SharedData.Path($"golden/{name}.json");
        using var json = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = json.RootElement;
        int[] Ints(string key) => root.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        string logitsFile = Path.Combine(Path.GetDirectoryName(path)!, root.GetProperty("logits_file").GetString()!);
        var logits = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(logitsFile)).ToArray();
        return new GoldenCase(name, SharedData.Path(root.GetProperty("model").GetString()!), root.GetProperty("prompt").GetString()!,
            Ints("tokens"), root.GetProperty("n_vocab").GetInt32(), Ints("positions"), logits);
    }

    /// <summary>Tern's tokens and logits for this case, computed once per test run (the prompt as one batch).</summary>
    public static GoldenResult Run(string name) => Results.GetOrAdd(name, n => new Lazy<GoldenResult>(() => Evaluate(Load(n)))).Value;

    /// <summary>As <see cref="Run"/>, with every matrix left in its file's layout (<see cref="ModelOptions.Repack"/> off).</summary>
    public static GoldenResult RunUnrepacked(string name) =>
        UnrepackedResults.GetOrAdd(name, n => new Lazy<GoldenResult>(() => Evaluate(Load(n), repack: false))).Value;

    /// <summary>Tern's tokens and logits for this case with the KV cache in the given types.</summary>
    public static GoldenResult Evaluate(GoldenCase c, GgmlType keyType = GgmlType.F16, GgmlType valueType = GgmlType.F16, bool repack = true)
    {
        using var model = DecoderModel.Load(c.ModelPath, new ModelOptions { Repack = repack });
        var tokenizer = Tokenizer.FromGguf(model.File);
        int[] tokens = tokenizer.Encode(c.Prompt, addSpecial: true);
        using var cache = model.CreateState(c.Tokens.Length, keyType: keyType, valueType: valueType);
        var sequence = cache.CreateSequence();
        var batch = new TokenBatch();
        var wanted = c.Positions.ToHashSet();
        for (int i = 0; i < c.Tokens.Length; i++)
            batch.Add(c.Tokens[i], i, sequence, wanted.Contains(i));
        var logits = new float[c.Positions.Length * c.VocabSize];
        model.Forward(batch, cache, logits);
        return new GoldenResult(c, tokens, logits);
    }
}

/// <summary>Tern's output for a golden case and its agreement with the reference.</summary>
public sealed record GoldenResult(GoldenCase Case, int[] Tokens, float[] Logits)
{
    /// <summary>Mean over stored positions of KL(reference ‖ Tern) of the softmax.</summary>
    public double MeanKl => MeanKlFrom(Case.Logits);

    /// <summary>KL(reference ‖ Tern) of the softmax at the <paramref name="i"/>-th stored position.</summary>
    public double KlAt(int i) => Kl(Row(Case.Logits, i), Row(Logits, i));

    /// <summary>Mean over stored positions of KL(other ‖ this) of the softmax, for logits laid out as the case's.</summary>
    public double MeanKlFrom(float[] other) => Enumerable.Range(0, Case.Positions.Length).Average(i => Kl(Row(other, i), Row(Logits, i)));

    /// <summary>Share of positions, among those where the reference's top logit leads by ≥ 0.1, with the same top-1.</summary>
    public double Top1Agreement
    {
        get
        {
            int decisive = 0, same = 0;
            for (int i = 0; i < Case.Positions.Length; i++)
            {
                var reference = Row(Case.Logits, i);
                var sorted = reference.ToArray().OrderDescending().ToArray();
                if (sorted[0] - sorted[1] < 0.1f)
                    continue;
                decisive++;
                if (ArgMax(reference) == ArgMax(Row(Logits, i)))
                    same++;
            }

            return decisive == 0 ? 1 : (double)same / decisive;
        }
    }

    private ReadOnlySpan<float> Row(float[] logits, int i) => logits.AsSpan(i * Case.VocabSize, Case.VocabSize);

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
        {
            if (x[i] > x[best])
                best = i;
        }

        return best;
    }

    private static double Kl(ReadOnlySpan<float> reference, ReadOnlySpan<float> actual)
    {
        double[] p = LogSoftmax(reference), q = LogSoftmax(actual);
        double kl = 0;
        for (int i = 0; i < p.Length; i++)
            kl += Math.Exp(p[i]) * (p[i] - q[i]);
        return kl;
    }

    private static double[] LogSoftmax(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
            max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in x)
            sum += Math.Exp(v - max);
        double log = max + Math.Log(sum);
        var result = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            result[i] = x[i] - log;
        return result;
    }
}
