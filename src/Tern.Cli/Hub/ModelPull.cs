using Spectre.Console;

namespace Tern.Cli.Hub;

/// <summary>
/// Fetches `OWNER/NAME[:QUANT]` into the model cache (unless it is already there) and returns the local path: of the
/// file, or of the first part of a split model, whose parts are fetched one after the other. Offline (--offline or
/// HF_HUB_OFFLINE) it uses the cached copy without a request; when the hub cannot be reached it falls back to it.
/// </summary>
public static class ModelPull
{
    /// <summary>HF_HUB_OFFLINE set to 1, true, yes or on, as huggingface_hub reads it.</summary>
    public static bool OfflineByEnvironment() =>
        Environment.GetEnvironmentVariable("HF_HUB_OFFLINE")?.Trim().ToUpperInvariant() is "1" or "TRUE" or "YES" or "ON";

    public static async Task<string> PullAsync(string reference, TextWriter stderr, bool showProgress, bool offline, CancellationToken cancel)
    {
        var (repo, quant) = QuantPicker.ParseReference(reference);
        if (offline || OfflineByEnvironment())
        {
            string local = Cached(repo, quant) ?? throw new HubException(
                $"{reference} is not in the model cache {ModelCache.Directory()} and the hub is not asked offline (--offline or HF_HUB_OFFLINE); pull it once online");
            stderr.WriteLine($"offline: using the cached copy {local}");
            return local;
        }

        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15) }) { Timeout = Timeout.InfiniteTimeSpan };
        var hub = ModelHub.FromEnvironment(http);
        IReadOnlyList<HubFile> listing;
        try
        {
            listing = await hub.ListFilesAsync(repo, cancel);
        }
        catch (HubException e) when (e.Unreachable && Cached(repo, quant) is { } local)
        {
            stderr.WriteLine($"warning: {e.Message}; using the local copy {local}");
            return local;
        }

        var parts = QuantPicker.Pick(repo, listing, quant);
        string target = ModelCache.PathOf(repo, parts[0]);
        if (parts.All(p => File.Exists(ModelCache.PathOf(repo, p)) && new FileInfo(ModelCache.PathOf(repo, p)).Length == p.Size))
        {
            stderr.WriteLine($"{repo}/{parts[0].Path}{PartsNote(parts)} is already downloaded");
            return target;
        }

        stderr.WriteLine($"pulling {repo}/{parts[0].Path}{PartsNote(parts)} ({parts.Sum(p => p.Size) / 1e6:F1} MB)");
        foreach (var part in parts)
        {
            string path = ModelCache.PathOf(repo, part);
            if (File.Exists(path) && new FileInfo(path).Length == part.Size)
                continue; // a part fetched by an earlier, interrupted pull
            await DownloadAsync(hub, repo, part, path, stderr, showProgress, cancel);
            stderr.WriteLine(part.Sha256 is null ? $"saved {path} (the hub reported no SHA-256 to check)" : $"saved {path} (SHA-256 verified)");
        }
        return target;
    }

    /// <summary>The cached copy of <paramref name="repo"/>'s model for <paramref name="quant"/> (its first part), if it is complete.</summary>
    private static string? Cached(string repo, string? quant)
    {
        var files = ModelCache.FilesOf(repo);
        if (files.Count == 0)
            return null;
        try
        {
            return ModelCache.PathOf(repo, QuantPicker.Pick(repo, files, quant)[0]);
        }
        catch (HubException)
        {
            return null; // not this quant, or a split model missing parts
        }
    }

    private static string PartsNote(IReadOnlyList<HubFile> parts) => parts.Count > 1 ? $" and its {parts.Count - 1} other parts" : "";

    private static async Task DownloadAsync(ModelHub hub, string repo, HubFile file, string target, TextWriter stderr, bool showProgress, CancellationToken cancel)
    {
        if (!showProgress)
        {
            await hub.DownloadAsync(repo, file, target, null, cancel);
            return;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        await console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(),
                new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(Path.GetFileName(file.Path)), maxValue: Math.Max(1, file.Size));
                await hub.DownloadAsync(repo, file, target, (done, total) =>
                {
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                }, cancel);
            });
    }
}
