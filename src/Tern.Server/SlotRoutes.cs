using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Tern.Runtime.Serving;

namespace Tern.Server;

/// <summary>
/// llama-server's slot actions, POST /slots/{id}?action=save|restore|erase. Save writes the slot's cached prefix (the
/// full KV blocks of the tokens its last request left, see <see cref="InferenceEngine.SaveSlotAsync"/>) to a file in
/// --slot-save-path; restore reads one back into the prefix cache, so the next prompt with that prefix resumes from
/// it; erase drops the slot's blocks. File names are plain names inside that folder, never paths.
/// </summary>
internal sealed class SlotRoutes(TernServer server)
{
    private static readonly HashSet<string> Fields = ["filename", "model"];

    public async Task<IResult> ActAsync(HttpContext http, string id)
    {
        string? action = http.Request.Query["action"].FirstOrDefault();
        if (action is not ("save" or "restore" or "erase"))
            throw ApiException.BadRequest($"'action' must be save, restore or erase, got '{action}'", "action");
        var r = await JsonRequest.ReadAsync(http.Request, server.Options.MaxBodyBytes, http.RequestAborted, allowEmpty: true);
        RequestFields.Check(r, Fields, "POST /slots/{id}");
        using var lease = await server.AcquireAsync(http, r);
        var engine = lease.Model.Engine;
        if (!int.TryParse(id, out int slot) || slot < 0 || slot >= engine.Parallel)
            throw ApiException.BadRequest($"'id_slot' must be a slot from 0 to {engine.Parallel - 1}, got '{id}'", "id_slot");
        if (!engine.Options.PrefixCache)
            throw new ApiException(501, "slots are saved through the prefix cache, which is off", code: "not_supported");
        var clock = Stopwatch.StartNew();
        if (action == "erase")
        {
            int erased = await engine.EraseSlotAsync(slot, http.RequestAborted);
            return Results.Json(new { id_slot = slot, n_erased = erased }, ServerJson.Options);
        }

        string name = r.String("filename") ?? throw ApiException.BadRequest("'filename' is required", "filename", "missing_required_parameter");
        string path = SlotFile(name);
        if (action == "save")
        {
            SlotTransfer saved;
            string temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
            try
            {
                await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                    saved = await engine.SaveSlotAsync(slot, file, http.RequestAborted);
                File.Move(temporary, path, overwrite: true); // a save cut short never replaces a good file
            }
            catch (IOException e)
            {
                throw new ApiException(500, $"could not write '{name}' in --slot-save-path: {e.Message}", "filename", "io_error");
            }
            finally
            {
                File.Delete(temporary);
            }

            return Results.Json(new { id_slot = slot, filename = name, n_saved = saved.Tokens, n_written = saved.Bytes, timings = new { save_ms = clock.Elapsed.TotalMilliseconds } }, ServerJson.Options);
        }

        if (!File.Exists(path))
            throw new ApiException(404, $"there is no '{name}' in --slot-save-path", "filename", "not_found");
        try
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var restored = await engine.RestoreSlotAsync(slot, file, http.RequestAborted);
            return Results.Json(new { id_slot = slot, filename = name, n_restored = restored.Tokens, n_read = restored.Bytes, timings = new { restore_ms = clock.Elapsed.TotalMilliseconds } }, ServerJson.Options);
        }
        catch (SlotFileException e)
        {
            throw ApiException.BadRequest($"'{name}' cannot be restored: {e.Message}", "filename");
        }
    }

    /// <summary>The path of a slot file: a plain file name (no folder, no "..", no control characters, no leading or
    /// trailing space or trailing dot) inside --slot-save-path, and not a symbolic link.</summary>
    private string SlotFile(string name)
    {
        string folder = server.Options.SlotSavePath
            ?? throw new ApiException(501, "slot files are off: start the server with --slot-save-path DIR", code: "not_supported");
        if (name.Length is 0 or > 255 || name is "." or ".." || name != name.Trim() || name.EndsWith('.')
            || name.Any(c => char.IsControl(c) || c is '/' or '\\' or ':' or '\uFEFF') || Path.GetFileName(name) != name)
            throw ApiException.BadRequest($"'filename' must be a plain file name inside --slot-save-path, got '{name}'", "filename");
        string path = Path.Combine(folder, name);
        if (new FileInfo(path).LinkTarget is not null)
            throw ApiException.BadRequest($"'{name}' is a symbolic link: slot files are plain files inside --slot-save-path", "filename");
        return path;
    }
}
