namespace Tern.Cli.Tests;

/// <summary>`tern list` and `tern rm` over a temporary model cache (TERN_MODELS) and llama.cpp cache (LLAMA_CACHE).</summary>
[Collection(nameof(HubEnvironment))]
public sealed class ModelListTests : IDisposable
{
    private static readonly string Tiny = SharedData.Path("models/llama-tiny-q8_0.gguf");
    private readonly string _cache = Directory.CreateTempSubdirectory("tern-list-").FullName;
    private readonly string _llama = Directory.CreateTempSubdirectory("tern-llama-cache-").FullName;

    public ModelListTests()
    {
        Environment.SetEnvironmentVariable("TERN_MODELS", _cache);
        Environment.SetEnvironmentVariable("LLAMA_CACHE", _llama);
    }

    private string Put(string relative, string? source = null)
    {
        string path = Path.Combine(_cache, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Copy(source ?? Tiny, path);
        return path;
    }

    private static string[][] Rows(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r').Split('\t')).ToArray();

    [Fact]
    public void List_shows_name_quant_size_architecture_and_context_of_each_cached_gguf_but_not_partial_files()
    {
        string q8 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf");
        Put("tern-test/llama-tiny-GGUF/llama-tiny-Q4_K_M.gguf.partial");

        var (code, stdout, stderr) = CliRunner.Run("list");

        Assert.True(code == 0, stderr);
        var row = Assert.Single(Rows(stdout));
        Assert.Equal("tern-test/llama-tiny-GGUF:Q8_0", row[0]);
        Assert.Equal(new FileInfo(Tiny).Length.ToString(), row[1]);
        Assert.Equal("llama", row[2]);
        Assert.Equal("4096", row[3]); // llama.context_length in llama-tiny-q8_0.gguf
        Assert.Equal("tern", row[5]);
        Assert.Equal(q8, row[6]);
    }

    [Fact]
    public void A_file_that_is_not_a_gguf_is_listed_with_its_error()
    {
        Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf");
        string bad = Path.Combine(_cache, "tern-test/broken-GGUF/broken-Q4_0.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(bad)!);
        File.WriteAllText(bad, "this is not a GGUF file");

        var (code, stdout, stderr) = CliRunner.Run("list");

        Assert.True(code == 0, stderr);
        var rows = Rows(stdout);
        Assert.Equal(2, rows.Length);
        var broken = Assert.Single(rows, r => r[0] == "tern-test/broken-GGUF:Q4_0");
        Assert.StartsWith("error: ", broken[2]);
        Assert.Equal("-", broken[3]);
        Assert.Single(rows, r => r[2] == "llama");
    }

    [Fact]
    public void List_includes_llama_cpp_cached_files_marked_as_llama_cpp()
    {
        File.Copy(Tiny, Path.Combine(_llama, "unsloth_Qwen3-0.6B-GGUF_Qwen3-0.6B-Q8_0.gguf"));

        var (code, stdout, stderr) = CliRunner.Run("list");

        Assert.True(code == 0, stderr);
        var row = Assert.Single(Rows(stdout));
        Assert.Equal("unsloth/Qwen3-0.6B-GGUF:Q8_0", row[0]);
        Assert.Equal("llama", row[2]);
        Assert.Equal("llama.cpp", row[5]);
    }

    [Fact]
    public void An_empty_cache_says_so_and_where_it_is()
    {
        var (code, stdout, _) = CliRunner.Run("list");

        Assert.Equal(0, code);
        Assert.StartsWith("no models cached in ", stdout);
        Assert.Contains(_cache, stdout);
    }

    [Fact]
    public void Rm_by_quant_removes_that_file_and_its_partial_and_keeps_the_other_quant()
    {
        string q8 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf");
        string q8Partial = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf.partial");
        string q4 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q4_K_M.gguf");

        var (code, stdout, stderr) = CliRunner.Run("rm", "tern-test/llama-tiny-GGUF:q8_0");

        Assert.True(code == 0, stderr);
        Assert.Contains($"removed {q8}", stdout);
        Assert.Contains($"removed {q8Partial}", stdout);
        Assert.False(File.Exists(q8));
        Assert.False(File.Exists(q8Partial));
        Assert.True(File.Exists(q4));
    }

    [Fact]
    public void Rm_by_name_removes_every_file_and_the_empty_folders_but_never_llama_cpp_files()
    {
        string q8 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf");
        string q4 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q4_K_M.gguf");
        string llamaFile = Path.Combine(_llama, "tern-test_llama-tiny-GGUF_llama-tiny-Q8_0.gguf");
        File.Copy(Tiny, llamaFile);

        var (code, stdout, stderr) = CliRunner.Run("rm", "tern-test/llama-tiny-GGUF");

        Assert.True(code == 0, stderr);
        Assert.Contains($"removed {q8}", stdout);
        Assert.Contains($"removed {q4}", stdout);
        Assert.False(Directory.Exists(Path.Combine(_cache, "tern-test")));
        Assert.True(File.Exists(llamaFile));
    }

    [Fact]
    public void Rm_with_no_match_is_an_error_listing_what_is_cached()
    {
        string q8 = Put("tern-test/llama-tiny-GGUF/llama-tiny-Q8_0.gguf");

        var (code, _, stderr) = CliRunner.Run("rm", "tern-test/llama-tiny-GGUF:Q4_K_M");

        Assert.Equal(1, code);
        Assert.StartsWith("error: no cached model matches tern-test/llama-tiny-GGUF:Q4_K_M; cached: tern-test/llama-tiny-GGUF:Q8_0", stderr);
        Assert.True(File.Exists(q8));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("tern-test/..")]
    [InlineData("/etc/passwd")]
    public void Rm_refuses_a_name_outside_the_cache(string reference)
    {
        string outside = Path.Combine(Path.GetDirectoryName(_cache)!, Path.GetFileName(_cache) + "-x.gguf");
        File.Copy(Tiny, outside);
        try
        {
            var (code, _, stderr) = CliRunner.Run("rm", reference);

            Assert.Equal(1, code);
            Assert.StartsWith("error: ", stderr);
            Assert.Contains("not a hub model", stderr);
            Assert.True(File.Exists(outside));
        }
        finally
        {
            File.Delete(outside);
        }
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("TERN_MODELS", null);
        Environment.SetEnvironmentVariable("LLAMA_CACHE", null);
        Directory.Delete(_cache, recursive: true);
        Directory.Delete(_llama, recursive: true);
    }
}
