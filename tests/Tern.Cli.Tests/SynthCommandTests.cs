using Tern.Gguf;

namespace Tern.Cli.Tests;

public sealed class SynthCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-synth-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Synth_writes_a_model_that_info_and_the_reader_accept()
    {
        string path = Path.Combine(_dir, "tiny-q4_0.gguf");
        var (code, stdout, stderr) = CliRunner.Run("synth", "--shape", "tiny", "--type", "Q4_0", "-o", path);

        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.StartsWith($"wrote {path}: tiny (llama, 2 layers, context 4096), q4_0, seed 1, 2,098,432 parameters, 21 tensors, 1.19 MiB in ", stdout);
        using (var gguf = GgufFile.Open(path))
        {
            Assert.Equal(2, gguf.GetInteger("general.file_type"));
            Assert.Equal(GgmlType.Q4_0, gguf.GetTensor("blk.0.ffn_up.weight").Type);
            Assert.Equal(GgmlType.Q6_K, gguf.GetTensor("output.weight").Type);
        }
        var info = CliRunner.Run("info", path);
        Assert.Equal(0, info.ExitCode);
        Assert.Contains("blk.1.ffn_down.weight", info.Stdout);
    }

    [Fact]
    public void Layers_context_seed_and_pure_options_reach_the_file()
    {
        string a = Path.Combine(_dir, "a.gguf"), b = Path.Combine(_dir, "b.gguf");
        var first = CliRunner.Run("synth", "--shape", "tiny", "-t", "q4_k", "-o", a, "--layers", "1", "--context", "262144", "--seed", "42", "--pure");
        var second = CliRunner.Run("synth", "--shape", "tiny", "-t", "q4_k", "-o", b, "--layers", "1", "--context", "262144", "--seed", "42", "--pure");

        Assert.Equal(0, first.ExitCode);
        Assert.Contains("q4_k_m pure, seed 42", first.Stdout);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        using var gguf = GgufFile.Open(a);
        Assert.Equal(1, gguf.GetInteger("llama.block_count"));
        Assert.Equal(262144, gguf.GetInteger("llama.context_length"));
        Assert.Equal(15, gguf.GetInteger("general.file_type"));
        Assert.Equal(12, gguf.Tensors.Count);
        Assert.All(gguf.Tensors.Where(t => t.Dimensions.Length == 2), t => Assert.Equal(GgmlType.Q4_K, t.Type));
    }

    [Fact]
    public void Fallbacks_are_reported_as_notes()
    {
        string path = Path.Combine(_dir, "qwen.gguf");
        var shape = CliRunner.Run("synth", "--shape", "qwen2.5-0.5b", "-t", "q4_k_m", "--layers", "1", "-o", path);

        Assert.Equal(0, shape.ExitCode);
        Assert.Contains("note: rows of 896 are not a multiple of 256: Q4_K -> Q5_0 (llama-quantize's fallback)", shape.Stdout);
    }

    [Fact]
    public void Unknown_shape_is_a_one_line_error_listing_the_shapes()
    {
        string path = Path.Combine(_dir, "x.gguf");
        var (code, stdout, stderr) = CliRunner.Run("synth", "--shape", "gpt-5", "--type", "q4_0", "-o", path);

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal("error: unknown shape 'gpt-5'; valid shapes: tiny, llama-1b, llama-8b, qwen2.5-0.5b, qwen3-0.6b, qwen3-30b-a3b, qwen3.6-35b-a3b, gemma4-26b-a4b, bitnet-2b", stderr.TrimEnd());
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Unknown_type_is_a_one_line_error_listing_the_types()
    {
        var (code, _, stderr) = CliRunner.Run("synth", "--shape", "tiny", "--type", "iq2_xxs", "-o", Path.Combine(_dir, "x.gguf"));

        Assert.Equal(1, code);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("error: unknown type 'iq2_xxs'; valid types: f32, f16, bf16, q4_0,", stderr);
        Assert.Contains("tq2_0", stderr);
    }

    [Fact]
    public void Zero_layers_is_a_one_line_error()
    {
        var (code, _, stderr) = CliRunner.Run("synth", "--shape", "tiny", "--layers", "0", "-o", Path.Combine(_dir, "x.gguf"));

        Assert.Equal(1, code);
        Assert.Equal("error: --layers must be at least 1, not 0", stderr.TrimEnd());
    }

    [Fact]
    public void A_missing_shape_is_refused()
    {
        var (code, _, stderr) = CliRunner.Run("synth", "-o", Path.Combine(_dir, "x.gguf"));

        Assert.Equal(1, code);
        Assert.Contains("--shape", stderr);
    }
}
