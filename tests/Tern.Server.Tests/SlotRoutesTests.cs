using System.Text.Json;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A server with --slot-save-path (two slots).</summary>
public sealed class SlotSaveFixture : ServerFixture
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("tern-slots-").FullName;

    protected override ServerOptions Options => base.Options with { Parallel = 2, SlotSavePath = Folder };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>llama-server's slot actions: POST /slots/{id}?action=save|restore|erase, files confined to --slot-save-path.</summary>
public sealed class SlotRoutesTests(SlotSaveFixture fixture) : IClassFixture<SlotSaveFixture>
{
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. ";

    private Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Chat(string content, int slot) =>
        fixture.PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content } }, max_tokens = 4, temperature = 0, id_slot = slot }));

    private Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Act(int slot, string action, object? body = null) =>
        fixture.PostAsync($"/slots/{slot}?action={action}", body is null ? "" : JsonSerializer.Serialize(body));

    private static int Cached(JsonElement chat) => chat.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();

    [Fact]
    public async Task Save_erase_and_restore_bring_a_conversation_back_from_its_file()
    {
        string content = string.Concat(Enumerable.Repeat(Story, 4)) + " Slot story.";
        var (status, first, _) = await Chat(content, slot: 1);
        Assert.Equal(200, status);
        Assert.Equal(0, Cached(first));

        var (saveStatus, save, _) = await Act(1, "save", new { filename = "story.bin" });
        Assert.Equal(200, saveStatus);
        Assert.Equal(1, save.GetProperty("id_slot").GetInt32());
        Assert.Equal("story.bin", save.GetProperty("filename").GetString());
        int saved = save.GetProperty("n_saved").GetInt32();
        Assert.True(saved >= first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() - 32, $"{saved} tokens saved");
        Assert.Equal(new FileInfo(Path.Combine(fixture.Folder, "story.bin")).Length, save.GetProperty("n_written").GetInt64());
        Assert.True(save.GetProperty("timings").GetProperty("save_ms").GetDouble() >= 0);
        Assert.Empty(Directory.GetFiles(fixture.Folder, "*.tmp-*")); // no temporary file left

        var (eraseStatus, erase, _) = await Act(1, "erase");
        Assert.Equal(200, eraseStatus);
        Assert.True(erase.GetProperty("n_erased").GetInt32() >= saved);
        Assert.Equal(0, Cached((await Chat(content, slot: 1)).Body)); // erased: computed again (and cached again)
        await Act(1, "erase");
        await Act(0, "erase");

        var (restoreStatus, restore, _) = await Act(0, "restore", new { filename = "story.bin" });
        Assert.Equal(200, restoreStatus);
        Assert.Equal(saved, restore.GetProperty("n_restored").GetInt32());
        Assert.Equal(save.GetProperty("n_written").GetInt64(), restore.GetProperty("n_read").GetInt64());
        Assert.True(restore.GetProperty("timings").GetProperty("restore_ms").GetDouble() >= 0);
        Assert.True(Cached((await Chat(content, slot: 0)).Body) >= saved - 32);
    }

    [Theory]
    [InlineData("../escape.bin")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/x.bin")]
    [InlineData("..")]
    [InlineData("")]
    [InlineData(" lead.bin")]
    [InlineData("trail.")]
    [InlineData("a\\b")]
    [InlineData("nul\u0000.bin")]
    public async Task A_file_name_that_is_not_a_plain_name_inside_the_folder_is_a_400(string name)
    {
        foreach (string action in new[] { "save", "restore" })
        {
            var (status, body, _) = await Act(0, action, new { filename = name });
            Assert.Equal(400, status);
            Assert.Equal("filename", body.GetProperty("error").GetProperty("param").GetString());
        }

        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(fixture.Folder)!, "escape.bin")));
    }

    [Fact]
    public async Task A_symbolic_link_in_the_folder_is_neither_written_through_nor_read()
    {
        string outside = Path.Combine(Path.GetTempPath(), $"tern-slot-target-{Guid.NewGuid():N}");
        File.WriteAllText(outside, "keep me");
        File.CreateSymbolicLink(Path.Combine(fixture.Folder, "link.bin"), outside);
        try
        {
            foreach (string action in new[] { "save", "restore" })
            {
                var (status, body, _) = await Act(0, action, new { filename = "link.bin" });
                Assert.Equal(400, status);
                Assert.Contains("symbolic link", body.GetProperty("error").GetProperty("message").GetString());
            }

            Assert.Equal("keep me", File.ReadAllText(outside));
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public async Task Bad_actions_slots_and_files_get_errors_naming_them()
    {
        var (status, body, _) = await Act(0, "load", new { filename = "x.bin" });
        Assert.Equal((400, "action"), (status, body.GetProperty("error").GetProperty("param").GetString()));
        (status, body, _) = await Act(2, "erase");
        Assert.Equal((400, "id_slot"), (status, body.GetProperty("error").GetProperty("param").GetString()));
        (status, body, _) = await Act(0, "save");
        Assert.Equal((400, "filename"), (status, body.GetProperty("error").GetProperty("param").GetString()));
        (status, body, _) = await Act(0, "save", new { filename = "x.bin", path = "/tmp" });
        Assert.Equal((400, "path"), (status, body.GetProperty("error").GetProperty("param").GetString()));
        (status, body, _) = await Act(0, "restore", new { filename = "missing.bin" });
        Assert.Equal((404, "filename"), (status, body.GetProperty("error").GetProperty("param").GetString()));

        File.WriteAllText(Path.Combine(fixture.Folder, "garbage.bin"), "not a slot file at all, but long enough to read a header from");
        (status, body, _) = await Act(0, "restore", new { filename = "garbage.bin" });
        Assert.Equal((400, "filename"), (status, body.GetProperty("error").GetProperty("param").GetString()));
        Assert.Contains("damaged", body.GetProperty("error").GetProperty("message").GetString());

        (status, body, _) = await Chat("Hi", slot: 5);
        Assert.Equal((400, "id_slot"), (status, body.GetProperty("error").GetProperty("param").GetString()));
    }
}

/// <summary>Without --slot-save-path, saving and restoring are off; erasing needs no file and works.</summary>
public sealed class SlotRoutesWithoutPathTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Save_and_restore_are_501_and_erase_works()
    {
        foreach (string action in new[] { "save", "restore" })
        {
            var (status, body, _) = await fixture.PostAsync($"/slots/0?action={action}", """{"filename": "x.bin"}""");
            Assert.Equal(501, status);
            Assert.Contains("--slot-save-path", body.GetProperty("error").GetProperty("message").GetString());
        }

        var (eraseStatus, erase, _) = await fixture.PostAsync("/slots/0?action=erase", "");
        Assert.Equal(200, eraseStatus);
        Assert.Equal(0, erase.GetProperty("id_slot").GetInt32());
    }
}
