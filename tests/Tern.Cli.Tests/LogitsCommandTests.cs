using System.Runtime.InteropServices;
using System.Text.Json;

namespace Tern.Cli.Tests;

public sealed class LogitsCommandTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public void Writes_every_positions_logits_in_the_golden_layout_and_agrees_with_llama_cpp()
    {
        using var golden = JsonDocument.Parse(File.ReadAllBytes(SharedData.Path("golden/llama-tiny-q8_0.p1.json")));
        var g = golden.RootElement;
        int[] goldenTokens = g.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int vocab = g.GetProperty("n_vocab").GetInt32();
        float[] reference = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(SharedData.Path("golden/llama-tiny-q8_0.p1.f32"))).ToArray();

        string output = _temp.File("out.f32");
        var (code, _, stderr) = CliRunner.Run("logits", "-m", SharedData.Path("models/llama-tiny-q8_0.gguf"), "-p", g.GetProperty("prompt").GetString()!, "-o", output);
        Assert.True(code == 0, stderr);

        using var json = JsonDocument.Parse(File.ReadAllBytes(_temp.File("out.json")));
        Assert.Equal(goldenTokens, json.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(vocab, json.RootElement.GetProperty("n_vocab").GetInt32());

        float[] logits = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray();
        Assert.Equal(goldenTokens.Length * vocab, logits.Length);
        // p1 stores every position: the rows must match llama.cpp's within the reference tolerance, and the top
        // token wherever the reference's leads the runner-up by at least 0.1 (../shared/README.md; position 13
        // is a near-tie, 0.001 apart).
        for (int i = 0; i < goldenTokens.Length; i++)
        {
            var row = reference.AsSpan(i * vocab, vocab);
            int top = ArgMax(row);
            var sorted = row.ToArray().OrderDescending().ToArray();
            if (sorted[0] - sorted[1] >= 0.1f)
                Assert.Equal(top, ArgMax(logits.AsSpan(i * vocab, vocab)));
            for (int j = 0; j < vocab; j++)
                Assert.True(Math.Abs(reference[i * vocab + j] - logits[i * vocab + j]) < 0.1f, $"position {i}, token {j}");
        }
    }

    [Fact]
    public void No_repack_keeps_the_files_layout_which_rounds_differently()
    {
        // Q8_0 matrices run from their repacked layout by default (one exact sum per row and block); --no-repack
        // keeps DotQ8_0's eight partial sums per row, llama.cpp's order: the same model to float noise, other bits.
        string model = SharedData.Path("models/llama-tiny-q8_0.gguf");
        string repacked = _temp.File("repacked.f32"), plain = _temp.File("plain.f32");
        var (code, _, stderr) = CliRunner.Run("logits", "-m", model, "-p", "Once upon a time", "-o", repacked);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliRunner.Run("logits", "-m", model, "-p", "Once upon a time", "-o", plain, "--no-repack");
        Assert.True(code == 0, stderr);
        float[] a = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(repacked)).ToArray();
        float[] b = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(plain)).ToArray();
        Assert.Equal(a.Length, b.Length);
        Assert.Contains(Enumerable.Range(0, a.Length), i => a[i] != b[i]);
        Assert.All(Enumerable.Range(0, a.Length), i => Assert.True(Math.Abs(a[i] - b[i]) < 1e-3f, $"logit {i}: {a[i]} vs {b[i]}"));
    }

    [Fact]
    public void An_output_ending_in_json_is_refused()
    {
        var (code, _, stderr) = CliRunner.Run("logits", "-p", "hello", "-o", _temp.File("out.json"));
        Assert.Equal(1, code);
        Assert.Contains("must not end in .json", stderr);
    }

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

    public void Dispose() => _temp.Dispose();
}
