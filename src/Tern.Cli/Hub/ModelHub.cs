using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.Cli.Hub;

/// <summary>
/// A Hugging Face-compatible hub: lists a repository's files (`/api/models/REPO/tree/main`) and downloads one
/// (`/REPO/resolve/main/FILE`, redirects followed) into the cache, resuming a partial file with a Range request,
/// checking the SHA-256 the hub reports, and renaming it into place only when complete.
/// </summary>
public sealed class ModelHub(HttpClient http, string endpoint, string? token)
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The hub named by HF_ENDPOINT (default the public hub), with HF_TOKEN when set.</summary>
    public static ModelHub FromEnvironment(HttpClient http) => new(http,
        Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } e ? e : DefaultEndpoint,
        Environment.GetEnvironmentVariable("HF_TOKEN") is { Length: > 0 } t ? t : null);

    public async Task<IReadOnlyList<HubFile>> ListFilesAsync(string repo, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Get, $"api/models/{repo}/tree/main?recursive=true", repo, null, cancel);
        using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancel), cancellationToken: cancel);
        var files = new List<HubFile>();
        foreach (var item in json.RootElement.EnumerateArray())
        {
            if (item.TryGetProperty("type", out var type) && type.GetString() != "file")
                continue;
            string? sha = item.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object
                && lfs.TryGetProperty("oid", out var oid) ? oid.GetString() : null;
            files.Add(new HubFile(item.GetProperty("path").GetString()!, item.GetProperty("size").GetInt64(), sha));
        }
        return files;
    }

    /// <summary>
    /// Downloads <paramref name="file"/> to <paramref name="target"/> through `target.partial`; a partial file
    /// left by an interrupted run is resumed. <paramref name="progress"/> gets (bytes so far, total bytes).
    /// </summary>
    public async Task DownloadAsync(string repo, HubFile file, string target, Action<long, long>? progress, CancellationToken cancel)
    {
        string partial = target + ".partial";
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        string? reportedSha = file.Sha256;
        if (have < file.Size || file.Size == 0)
        {
            var range = have > 0 ? new RangeHeaderValue(have, null) : null;
            using var response = await SendAsync(HttpMethod.Get, $"{repo}/resolve/main/{EscapePath(file.Path)}", repo, range, cancel);
            reportedSha ??= ShaFromEtag(response);
            if (response.StatusCode != HttpStatusCode.PartialContent)
                have = 0; // the server ignored the range: start over
            long total = have + (response.Content.Headers.ContentLength ?? file.Size - have);
            await using var output = new FileStream(partial, have > 0 ? FileMode.Append : FileMode.Create, FileAccess.Write);
            await using var input = await response.Content.ReadAsStreamAsync(cancel);
            var buffer = new byte[1 << 16];
            progress?.Invoke(have, total);
            try
            {
                for (int n; (n = await input.ReadAsync(buffer, cancel)) > 0;)
                {
                    await output.WriteAsync(buffer.AsMemory(0, n), cancel);
                    have += n;
                    progress?.Invoke(have, total);
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw new HubException($"download of {file.Path} interrupted after {have} of {total} bytes ({e.Message}); run the same command again to resume");
            }
        }

        await VerifyAsync(partial, file, reportedSha, cancel);
        File.Move(partial, target, overwrite: true);
    }

    private static async Task VerifyAsync(string partial, HubFile file, string? sha, CancellationToken cancel)
    {
        long length = new FileInfo(partial).Length;
        if (file.Size > 0 && length != file.Size)
        {
            File.Delete(partial);
            throw new HubException($"{file.Path}: downloaded {length} bytes, the hub lists {file.Size}; the partial file was deleted");
        }
        if (sha is null)
            return;
        await using var stream = File.OpenRead(partial);
        string actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
        if (!actual.Equals(sha, StringComparison.OrdinalIgnoreCase))
        {
            stream.Close();
            File.Delete(partial);
            throw new HubException($"{file.Path}: SHA-256 mismatch (the hub reports {sha}, the download is {actual}); the partial file was deleted");
        }
    }

    /// <summary>The SHA-256 in X-Linked-Etag or ETag, when it holds one (the hub's LFS files do; small git files give a git hash).</summary>
    private static string? ShaFromEtag(HttpResponseMessage response)
    {
        foreach (string name in new[] { "X-Linked-Etag", "ETag" })
        {
            if (response.Headers.TryGetValues(name, out var values)
                && Regex.Match(values.First(), "^(?:W/)?\"?([0-9a-fA-F]{64})\"?$") is { Success: true } m)
                return m.Groups[1].Value;
        }
        return null;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string relative, string repo, RangeHeaderValue? range, CancellationToken cancel)
    {
        var request = new HttpRequestMessage(method, endpoint.TrimEnd('/') + "/" + relative);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Range = range;
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException
            || e is OperationCanceledException && !cancel.IsCancellationRequested) // connection refused, no DNS, connect timeout
        {
            throw new HubException($"cannot reach the hub at {endpoint}: {e.Message}", unreachable: true);
        }
        if (response.IsSuccessStatusCode)
            return response;
        response.Dispose();
        throw response.StatusCode switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new HubException(token is null
                ? $"{repo}: the hub answered {(int)response.StatusCode} ({response.StatusCode}); set HF_TOKEN to a token that can read it"
                : $"{repo}: the hub refused the token in HF_TOKEN ({(int)response.StatusCode} {response.StatusCode})"),
            HttpStatusCode.NotFound => new HubException($"{repo}: not found on {endpoint} ({relative})"),
            _ => new HubException($"{repo}: the hub answered {(int)response.StatusCode} {response.StatusCode} for {relative}"),
        };
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
}
