using Tern.Cli.Hub;
using Tern.Gguf;

namespace Tern.Cli.Tests;

/// <summary>`tern pull` against a local hub (<see cref="FakeHub"/>) serving the shared tiny models.</summary>
[Collection(nameof(HubEnvironment))]
public sealed class PullCommandTests : IDisposable
{
    private const string Repo = "tern-test/llama-tiny-GGUF";
    private static readonly string Q8 = SharedData.Path("models/llama-tiny-q8_0.gguf");
    private static readonly string Q4km = SharedData.Path("models/llama-tiny-q4_k_m.gguf");
    private readonly string _cache = Directory.CreateTempSubdirectory("tern-pull-").FullName;
    private readonly string _split = Directory.CreateTempSubdirectory("tern-split-").FullName;

    private static Dictionary<string, string> Files() => new()
    {
        ["llama-tiny-Q8_0.gguf"] = Q8,
        ["llama-tiny-Q4_K_M.gguf"] = Q4km,
        ["mmproj-llama-tiny-F16.gguf"] = Q8,
    };

    private (int Code, string Stdout, string Stderr) Pull(FakeHub hub, string reference, string? token = null)
    {
        UseHub(hub, token);
        return CliRunner.Run("pull", reference);
    }

    private void UseHub(FakeHub hub, string? token = null)
    {
        Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
        Environment.SetEnvironmentVariable("HF_TOKEN", token);
        Environment.SetEnvironmentVariable("TERN_MODELS", _cache);
    }

    private string Cached(string file) => Path.Combine(_cache, Repo, file);

    [Fact]
    public async Task Pull_by_quant_matches_the_tag_case_insensitively_and_writes_the_verified_file_to_the_cache()
    {
        await using var hub = new FakeHub(Repo, Files());

        var (code, stdout, stderr) = Pull(hub, $"{Repo}:q8_0");

        Assert.True(code == 0, stderr);
        Assert.Equal(Cached("llama-tiny-Q8_0.gguf"), stdout.Trim());
        Assert.Equal(File.ReadAllBytes(Q8), File.ReadAllBytes(Cached("llama-tiny-Q8_0.gguf")));
        Assert.Contains("SHA-256 verified", stderr);
        Assert.False(File.Exists(Cached("llama-tiny-Q8_0.gguf.partial")));
    }

    [Fact]
    public async Task Pull_without_a_tag_takes_Q4_K_M_and_a_second_pull_downloads_nothing()
    {
        await using var hub = new FakeHub(Repo, Files());

        var (code, stdout, stderr) = Pull(hub, Repo);
        var (again, _, againErr) = Pull(hub, Repo);

        Assert.True(code == 0, stderr);
        Assert.Equal(Cached("llama-tiny-Q4_K_M.gguf"), stdout.Trim());
        Assert.Equal(File.ReadAllBytes(Q4km), File.ReadAllBytes(stdout.Trim()));
        Assert.Equal(0, again);
        Assert.Contains("already downloaded", againErr);
        Assert.Single(hub.RangesSeen);
    }

    [Fact]
    public async Task A_missing_quant_is_an_error_listing_the_available_files()
    {
        await using var hub = new FakeHub(Repo, Files());

        var (code, _, stderr) = Pull(hub, $"{Repo}:Q4_K");

        Assert.Equal(1, code);
        Assert.StartsWith($"error: {Repo} has no Q4_K file; available: ", stderr);
        Assert.Contains("llama-tiny-Q8_0.gguf", stderr);
        Assert.Contains("llama-tiny-Q4_K_M.gguf", stderr);
        Assert.False(Directory.Exists(Path.Combine(_cache, Repo)));
    }

    [Fact]
    public async Task A_cut_connection_leaves_a_partial_file_that_the_next_pull_resumes_with_a_range_request()
    {
        const int cut = 1_000_000;
        await using var hub = new FakeHub(Repo, Files()) { CutAfterBytes = cut };

        var (first, _, firstErr) = Pull(hub, $"{Repo}:Q8_0");
        long partialLength = new FileInfo(Cached("llama-tiny-Q8_0.gguf.partial")).Length;
        bool finishedEarly = File.Exists(Cached("llama-tiny-Q8_0.gguf"));
        var (second, stdout, secondErr) = Pull(hub, $"{Repo}:Q8_0");

        Assert.Equal(1, first);
        Assert.Contains("interrupted", firstErr);
        Assert.Contains("run the same command again to resume", firstErr);
        Assert.False(finishedEarly);
        Assert.InRange(partialLength, 1, cut); // what reached the client before the cut (a reset may drop unread bytes)
        Assert.True(second == 0, secondErr);
        Assert.Equal([null, $"bytes={partialLength}-"], hub.RangesSeen);
        Assert.Equal(File.ReadAllBytes(Q8), File.ReadAllBytes(stdout.Trim()));
        Assert.False(File.Exists(Cached("llama-tiny-Q8_0.gguf.partial")));
    }

    [Fact]
    public async Task A_download_whose_hash_differs_from_the_hubs_is_refused_and_deleted()
    {
        await using var hub = new FakeHub(Repo, Files()) { ReportWrongSha = true };

        var (code, _, stderr) = Pull(hub, $"{Repo}:Q8_0");

        Assert.Equal(1, code);
        Assert.Contains("SHA-256 mismatch", stderr);
        Assert.Contains("deleted", stderr);
        Assert.Empty(Directory.GetFiles(Path.Combine(_cache, Repo)));
    }

    [Fact]
    public async Task A_hub_that_requires_a_token_answers_401_without_one_and_serves_with_HF_TOKEN()
    {
        await using var hub = new FakeHub(Repo, Files()) { RequiredToken = "hf_secret" };

        var (refused, _, refusedErr) = Pull(hub, $"{Repo}:Q8_0");
        var (code, stdout, stderr) = Pull(hub, $"{Repo}:Q8_0", token: "hf_secret");

        Assert.Equal(1, refused);
        Assert.Contains("401", refusedErr);
        Assert.Contains("set HF_TOKEN", refusedErr);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Q8), File.ReadAllBytes(stdout.Trim()));
    }

    [Fact]
    public async Task Run_with_hf_pulls_the_model_then_uses_the_local_copy_when_the_hub_is_gone()
    {
        var hub = new FakeHub(Repo, Files());
        UseHub(hub);
        var (code, stdout, stderr) = CliRunner.Run("run", "-hf", $"{Repo}:Q8_0", "-p", "Hello", "-n", "3", "--seed", "1");
        await hub.DisposeAsync();
        var (offline, offlineOut, offlineErr) = CliRunner.Run("run", "-hf", $"{Repo}:Q8_0", "-p", "Hello", "-n", "3", "--seed", "1");

        Assert.True(code == 0, stderr);
        Assert.Contains("SHA-256 verified", stderr);
        Assert.Equal(File.ReadAllBytes(Q8), File.ReadAllBytes(Cached("llama-tiny-Q8_0.gguf")));
        Assert.Contains("generation: 3 tokens", stderr);
        Assert.True(offline == 0, offlineErr);
        Assert.Contains("cannot reach the hub", offlineErr);
        Assert.Contains($"using the local copy {Cached("llama-tiny-Q8_0.gguf")}", offlineErr);
        Assert.Equal(stdout, offlineOut);
    }

    [Fact]
    public async Task Chat_and_bench_take_hf_too()
    {
        var hub = new FakeHub(Repo, Files());
        UseHub(hub);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int chat = TernCommand.Run(["chat", "-hf", $"{Repo}:Q8_0", "-n", "3", "--temp", "0"], stdout, stderr, new StringReader("Hello\n"));
        var (bench, benchOut, benchErr) = CliRunner.Run("bench", "-hf", $"{Repo}:Q8_0", "-p", "8", "-n", "4", "-r", "1", "-o", "jsonl");
        await hub.DisposeAsync();

        Assert.True(chat == 0, stderr.ToString());
        Assert.Contains("answer: 3 tokens", stderr.ToString());
        Assert.True(bench == 0, benchErr);
        Assert.Contains("llama-tiny-Q8_0", benchOut);
    }

    [Fact]
    public void Run_refuses_both_m_and_hf()
    {
        var (code, _, stderr) = CliRunner.Run("run", "-m", Q8, "-hf", $"{Repo}:Q8_0", "-p", "Hello");

        Assert.Equal(1, code);
        Assert.Equal("error: give either -m FILE or -hf REPO[:QUANT], not both", stderr.Trim());
    }

    [Fact]
    public void A_split_model_whose_listing_lacks_a_part_is_refused_naming_the_parts_there_are()
    {
        HubFile[] listing = [new("m-Q8_0-00001-of-00003.gguf", 1, null), new("m-Q8_0-00003-of-00003.gguf", 1, null), new("m-Q4_0.gguf", 1, null)];

        var e = Assert.Throws<HubException>(() => QuantPicker.Pick(Repo, listing, "Q8_0"));

        Assert.Equal($"{Repo}: the split model m-Q8_0 has 3 parts, but the listing holds part(s) 1, 3", e.Message);
    }

    [Theory]
    [InlineData("not-a-repo")]
    [InlineData("../etc:Q4_K_M")]
    [InlineData("a/b:Q4/../x")]
    public void A_reference_that_is_not_OWNER_NAME_QUANT_is_refused(string reference)
    {
        Assert.Throws<HubException>(() => QuantPicker.ParseReference(reference));
    }

    /// <summary>llama-tiny-q8_0 split as gguf-split does (three parts), served as llama-tiny-Q8_0-0000i-of-00003.gguf beside a Q4_K_M file.</summary>
    private Dictionary<string, string> SplitFiles()
    {
        using (var source = GgufFile.Open(Q8))
            GgufSplit.Write(source, Path.Combine(_split, "llama-tiny-Q8_0"), tensorsPerPart: 8);
        var files = Directory.GetFiles(_split).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), f => f);
        files["llama-tiny-Q4_K_M.gguf"] = Q4km;
        return files;
    }

    private static readonly string[] SplitParts = ["llama-tiny-Q8_0-00001-of-00003.gguf", "llama-tiny-Q8_0-00002-of-00003.gguf", "llama-tiny-Q8_0-00003-of-00003.gguf"];

    [Fact]
    public async Task Pull_of_a_split_model_fetches_and_verifies_every_part_and_list_shows_it_once()
    {
        var files = SplitFiles();
        await using var hub = new FakeHub(Repo, files);

        var (code, stdout, stderr) = Pull(hub, $"{Repo}:q8_0");
        var (listed, listOut, listErr) = CliRunner.Run("list");

        Assert.True(code == 0, stderr);
        Assert.Equal(Cached(SplitParts[0]), stdout.Trim());
        Assert.All(SplitParts, part => Assert.Equal(File.ReadAllBytes(files[part]), File.ReadAllBytes(Cached(part))));
        Assert.Equal(3, stderr.Split("SHA-256 verified").Length - 1);
        Assert.Contains($"pulling {Repo}/{SplitParts[0]} and its 2 other parts", stderr);
        Assert.Empty(Directory.GetFiles(Path.Combine(_cache, Repo), "*.partial"));
        Assert.True(listed == 0, listErr);
        var row = Assert.Single(listOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')), r => r[0] == $"{Repo}:Q8_0");
        Assert.Equal(SplitParts.Sum(p => new FileInfo(files[p]).Length).ToString(), row[1]);
        Assert.Equal("llama", row[2]);
        Assert.Equal(Cached(SplitParts[0]), row[6]);
    }

    [Fact]
    public async Task A_split_model_runs_as_the_single_file_does_and_rm_removes_every_part()
    {
        await using var hub = new FakeHub(Repo, SplitFiles());
        UseHub(hub);

        var (code, stdout, stderr) = CliRunner.Run("run", "-hf", $"{Repo}:Q8_0", "-p", "Hello", "-n", "4", "--seed", "1");
        var (_, single, singleErr) = CliRunner.Run("run", "-m", Q8, "-p", "Hello", "-n", "4", "--seed", "1");
        var (removed, rmOut, rmErr) = CliRunner.Run("rm", $"{Repo}:Q8_0");

        Assert.True(code == 0, stderr);
        Assert.Contains("generation: 4 tokens", stderr);
        Assert.Equal(single, stdout);
        Assert.True(removed == 0, rmErr);
        Assert.Equal(SplitParts.Select(p => $"removed {Cached(p)}"), rmOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
        Assert.All(SplitParts, p => Assert.False(File.Exists(Cached(p))));
    }

    [Fact]
    public async Task A_split_pull_that_lost_a_part_fetches_only_that_part_and_loading_without_it_names_it()
    {
        await using var hub = new FakeHub(Repo, SplitFiles());
        Pull(hub, $"{Repo}:Q8_0");
        File.Delete(Cached(SplitParts[1]));
        var (broken, _, brokenErr) = CliRunner.Run("run", "-m", Cached(SplitParts[0]), "-p", "Hello", "-n", "1");
        int fetchesBefore = hub.RangesSeen.Count;

        var (code, _, stderr) = Pull(hub, $"{Repo}:Q8_0");

        Assert.Equal(1, broken);
        Assert.StartsWith($"error: {Cached(SplitParts[0])}: part 2 of 3 of this split model is missing: {Cached(SplitParts[1])} does not exist", brokenErr);
        Assert.True(code == 0, stderr);
        Assert.Equal(fetchesBefore + 1, hub.RangesSeen.Count);
        Assert.Contains($"saved {Cached(SplitParts[1])}", stderr);
    }

    [Fact]
    public async Task Offline_pull_and_run_use_the_cached_copy_without_a_request()
    {
        await using var hub = new FakeHub(Repo, Files());
        Pull(hub, $"{Repo}:Q8_0");
        int requests = hub.Requests;

        var (code, stdout, stderr) = CliRunner.Run("pull", "--offline", $"{Repo}:Q8_0");
        var (run, _, runErr) = CliRunner.Run("run", "--offline", "-hf", $"{Repo}:Q8_0", "-p", "Hello", "-n", "2");

        Assert.True(code == 0, stderr);
        Assert.Equal(Cached("llama-tiny-Q8_0.gguf"), stdout.Trim());
        Assert.Equal($"offline: using the cached copy {Cached("llama-tiny-Q8_0.gguf")}", stderr.Trim());
        Assert.True(run == 0, runErr);
        Assert.Contains("offline: using the cached copy", runErr);
        Assert.Equal(requests, hub.Requests);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("true")]
    public async Task HF_HUB_OFFLINE_works_as_offline_does(string value)
    {
        await using var hub = new FakeHub(Repo, Files());
        Pull(hub, $"{Repo}:Q8_0");
        int requests = hub.Requests;
        Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", value);

        var (code, stdout, stderr) = CliRunner.Run("pull", $"{Repo}:Q8_0");

        Assert.True(code == 0, stderr);
        Assert.Equal(Cached("llama-tiny-Q8_0.gguf"), stdout.Trim());
        Assert.Contains("offline: using the cached copy", stderr);
        Assert.Equal(requests, hub.Requests);
    }

    [Theory]
    [InlineData("pull")]
    [InlineData("run")]
    [InlineData("chat")]
    [InlineData("bench")]
    [InlineData("serve")]
    public async Task Offline_without_a_cached_copy_is_an_error_naming_the_model_and_the_cache(string command)
    {
        await using var hub = new FakeHub(Repo, Files());
        Pull(hub, $"{Repo}:Q8_0");

        var (code, _, stderr) = command switch
        {
            "pull" => CliRunner.Run("pull", "--offline", $"{Repo}:Q4_K_M"),
            "serve" => CliRunner.Run("serve", "--offline", "-hf", $"{Repo}:Q4_K_M", "--port", "0"),
            "run" => CliRunner.Run("run", "--offline", "-hf", $"{Repo}:Q4_K_M", "-p", "Hello"),
            _ => CliRunner.Run(command, "--offline", "-hf", $"{Repo}:Q4_K_M"),
        };

        Assert.Equal(1, code);
        Assert.StartsWith($"error: {Repo}:Q4_K_M is not in the model cache {_cache}", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void An_unreachable_hub_falls_back_to_the_cached_copy_with_a_warning_and_without_one_is_the_connection_error()
    {
        string local = Cached("llama-tiny-Q8_0.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(local)!);
        File.Copy(Q8, local);
        Environment.SetEnvironmentVariable("HF_ENDPOINT", $"http://127.0.0.1:{UnusedPort()}");
        Environment.SetEnvironmentVariable("TERN_MODELS", _cache);

        var (code, stdout, stderr) = CliRunner.Run("pull", $"{Repo}:Q8_0");
        var (missing, _, missingErr) = CliRunner.Run("pull", $"{Repo}:Q4_K_M");

        Assert.True(code == 0, stderr);
        Assert.Equal(local, stdout.Trim());
        Assert.StartsWith("warning: cannot reach the hub at http://127.0.0.1:", stderr);
        Assert.EndsWith($"; using the local copy {local}", stderr.Trim());
        Assert.Equal(1, missing);
        Assert.StartsWith("error: cannot reach the hub at http://127.0.0.1:", missingErr);
    }

    private static int UnusedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public void Dispose()
    {
        foreach (var name in new[] { "HF_ENDPOINT", "HF_TOKEN", "TERN_MODELS", "HF_HUB_OFFLINE" })
            Environment.SetEnvironmentVariable(name, null);
        Directory.Delete(_cache, recursive: true);
        Directory.Delete(_split, recursive: true);
    }
}

/// <summary>Tests that set HF_ENDPOINT, HF_TOKEN and TERN_MODELS run one at a time.</summary>
[CollectionDefinition(nameof(HubEnvironment), DisableParallelization = true)]
public sealed class HubEnvironment;
