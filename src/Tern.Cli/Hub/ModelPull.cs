using Spectre.Console;

namespace Tern.Cli.Hub;

/// <summary>Fetches `OWNER/NAME[:QUANT]` into the model cache (unless it is already there) and returns the local path.</summary>
public static class ModelPull
{
    public static async Task<string> PullAsync(string reference, TextWriter stderr, bool showProgress, CancellationToken cancel)
    {
        var (repo, quant) = QuantPicker.ParseReference(reference);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var hub = ModelHub.FromEnvironment(http);
        IReadOnlyList<HubFile> listing;
        try
        {
            listing = await hub.ListFilesAsync(repo, cancel);
        }
        catch (HubException e) when (e.Unreachable && ModelCache.FilesOf(repo).Count > 0)
        {
            string local = ModelCache.PathOf(repo, QuantPicker.Pick(repo, ModelCache.FilesOf(repo), quant));
            stderr.WriteLine($"{e.Message}; using the local copy {local}");
            return local;
        }
        var file = QuantPicker.Pick(repo, listing, quant);
        string target = ModelCache.PathOf(repo, file);
        if (File.Exists(target) && new FileInfo(target).Length == file.Size)
        {
            stderr.WriteLine($"{repo}/{file.Path} is already downloaded");
            return target;
        }

        stderr.WriteLine($"pulling {repo}/{file.Path} ({file.Size / 1e6:F1} MB)");
        if (!showProgress)
        {
            await hub.DownloadAsync(repo, file, target, null, cancel);
        }
        else
        {
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
        stderr.WriteLine(file.Sha256 is null ? $"saved {target} (the hub reported no SHA-256 to check)" : $"saved {target} (SHA-256 verified)");
        return target;
    }
}
