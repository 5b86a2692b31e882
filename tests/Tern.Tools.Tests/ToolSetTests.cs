using System.Text.Json;
using Tern.Tools;

namespace Tern.Tools.Tests;

/// <summary>The registry: selection, schemas, and calls with malformed or hostile arguments.</summary>
public sealed class ToolSetTests
{
    [Fact]
    public void All_and_empty_select_every_tool_in_order()
    {
        string[] all = ["read_file", "write_file", "edit_file", "grep", "shell", "time", "file_glob_search", "get_info"];

        Assert.Equal(all, ToolSet.ParseSelection("all"));
        Assert.Equal(all, ToolSet.ParseSelection(null));
        Assert.Equal(all, ToolSet.ParseSelection(" ALL "));
    }

    [Fact]
    public void A_list_selects_those_tools_once_each()
    {
        Assert.Equal(["grep", "time", "read_file"], ToolSet.ParseSelection("grep, time,read_file,Grep"));
    }

    [Fact]
    public void Unknown_tool_names_are_an_error_listing_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => ToolSet.ParseSelection("read_file,rm_rf"));

        Assert.StartsWith("unknown tool 'rm_rf' in the tool list; the built-in tools are read_file, write_file, edit_file, grep, shell, time, file_glob_search, get_info (or 'all')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Schemas_are_openai_function_tools()
    {
        using var h = new ToolHarness();

        var schemas = JsonDocument.Parse(h.Tools.SchemasJson).RootElement;

        Assert.Equal(8, schemas.GetArrayLength());
        var read = schemas[0];
        Assert.Equal("function", read.GetProperty("type").GetString());
        var function = read.GetProperty("function");
        Assert.Equal("read_file", function.GetProperty("name").GetString());
        Assert.False(string.IsNullOrWhiteSpace(function.GetProperty("description").GetString()));
        var parameters = function.GetProperty("parameters");
        Assert.Equal("object", parameters.GetProperty("type").GetString());
        Assert.Equal("string", parameters.GetProperty("properties").GetProperty("path").GetProperty("type").GetString());
        Assert.Equal("integer", parameters.GetProperty("properties").GetProperty("start_line").GetProperty("type").GetString());
        Assert.Equal(["path"], parameters.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.False(parameters.GetProperty("additionalProperties").GetBoolean());
        var time = schemas[5].GetProperty("function").GetProperty("parameters");
        Assert.Empty(time.GetProperty("properties").EnumerateObject());
    }

    [Fact]
    public void Only_selected_tools_are_callable()
    {
        using var temp = new TempDirectory();
        var tools = ToolSet.Create("time,grep", new ToolSetOptions { WorkspaceRoot = temp.FullPath });

        var result = tools.Invoke("shell", """{"command":"id"}""", "r");

        Assert.Equal(["time", "grep"], tools.Tools.Select(t => t.Name));
        Assert.Equal("error: there is no tool named 'shell'; the available tools are: time, grep", result.Output);
    }

    [Theory]
    [InlineData("{\"path\": ", "error: the arguments are not valid JSON:")]
    [InlineData("[1, 2]", "error: the arguments of read_file must be a JSON object, not an array")]
    [InlineData("{\"path\": 5}", "error: argument 'path' must be a string, not a number")]
    [InlineData("{\"file\": \"a.txt\"}", "error: unknown argument 'file' (read_file takes path, start_line, end_line); missing required argument 'path'")]
    [InlineData("{\"path\": \"a.txt\", \"path\": \"b.txt\"}", "error: argument 'path' is given more than once")]
    [InlineData("{\"path\": \"\\ud800\"}", "error: argument 'path' is not valid Unicode text")]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": \"two\"}", "error: argument 'start_line' must be an integer, not a string")]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": 1.5}", "error: argument 'start_line' must be an integer, not a number")]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": 1e300}", "error: argument 'start_line' must be an integer, not a number")]
    public void Malformed_arguments_come_back_as_readable_errors(string arguments, string expected)
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "x\n");

        var result = h.Tools.Invoke("read_file", arguments, "r");

        Assert.False(result.Ok);
        Assert.StartsWith(expected, result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": \"2\"}")]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": 2.0}")]
    [InlineData("\"{\\\"path\\\": \\\"a.txt\\\", \\\"start_line\\\": 2}\"")]
    [InlineData("{\"path\": \"a.txt\", \"start_line\": 2, \"end_line\": null}")]
    public void Near_miss_arguments_from_sloppy_models_are_accepted(string arguments)
    {
        using var h = new ToolHarness();
        h.WriteWorkspaceFile("a.txt", "x\ny\n");

        var result = h.Tools.Invoke("read_file", arguments, "r");

        Assert.Equal("y\n[lines 2-2 of 2]", result.Output);
    }

    [Fact]
    public void Deeply_nested_and_huge_arguments_are_refused()
    {
        using var h = new ToolHarness();
        string deep = "{\"path\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        string huge = "{\"path\":\"" + new string('a', ToolSet.MaxArgumentsLength) + "\"}";

        Assert.StartsWith("error: the arguments are not valid JSON:", h.Tools.Invoke("read_file", deep, "r").Output, StringComparison.Ordinal);
        Assert.StartsWith("error: the arguments are ", h.Tools.Invoke("read_file", huge, "r").Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_arguments_mean_none()
    {
        using var h = new ToolHarness();

        Assert.True(h.Tools.Invoke("time", null, "r").Ok);
        Assert.True(h.Tools.Invoke("time", "", "r").Ok);
        Assert.True(h.Tools.Invoke("time", "null", "r").Ok);
        Assert.Equal("error: unknown argument 'zone' (time takes no arguments)", h.Tools.Invoke("time", """{"zone":"UTC"}""", "r").Output);
    }

    [Fact]
    public void Null_name_or_request_id_is_a_programmer_error()
    {
        using var h = new ToolHarness();

        Assert.Throws<ArgumentNullException>(() => h.Tools.Invoke(null!, "{}", "r"));
        Assert.Throws<ArgumentNullException>(() => h.Tools.Invoke("time", "{}", null!));
    }

    [Fact]
    public async Task A_tool_that_throws_unexpectedly_becomes_an_error_result()
    {
        using var temp = new TempDirectory();
        var tools = new ToolSet([new ThrowingTool()], new Workspace(temp.FullPath));

        var result = await tools.InvokeAsync("boom", "{}", "r", TestContext.Current.CancellationToken);

        Assert.Equal("error: internal error in boom: InvalidOperationException: bug", result.Output);
    }

    [Fact]
    public async Task At_most_the_bound_of_calls_run_at_once()
    {
        using var temp = new TempDirectory();
        var gate = new GateTool();
        var tools = new ToolSet([gate], new Workspace(temp.FullPath), maxConcurrentCalls: 2);

        var calls = Enumerable.Range(0, 6).Select(i => tools.InvokeAsync("gate", "{}", $"r{i}", TestContext.Current.CancellationToken)).ToList();
        await gate.WaitUntilRunningAsync(2);
        gate.Open();
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.True(r.Ok, r.Output));
        Assert.Equal(6, gate.Entered);
        Assert.Equal(2, gate.MostAtOnce);
    }

    [Fact]
    public async Task A_call_that_gets_no_slot_in_time_fails_clearly_and_waiting_can_be_cancelled()
    {
        using var temp = new TempDirectory();
        var gate = new GateTool();
        var tools = new ToolSet([gate], new Workspace(temp.FullPath), maxConcurrentCalls: 1, callSlotWait: TimeSpan.FromMilliseconds(200));
        var holder = tools.InvokeAsync("gate", "{}", "holder", TestContext.Current.CancellationToken);
        await gate.WaitUntilRunningAsync(1);
        using var cancel = new CancellationTokenSource();

        var late = await tools.InvokeAsync("gate", "{}", "late", TestContext.Current.CancellationToken);
        var waiting = tools.InvokeAsync("gate", "{}", "cancelled", cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal("error: the server is busy: 1 tool calls are already running and none finished within 0.2 s; try again later", late.Output);
        gate.Open();
        Assert.True((await holder).Ok);
        Assert.Equal(1, gate.Entered);
    }

    /// <summary>Holds every call until <see cref="Open"/>, counting how many were inside at once.</summary>
    private sealed class GateTool : Tool
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _running;
        private int _entered;
        private int _mostAtOnce;

        public override string Name => "gate";

        public override string Description => "waits for the test";

        public override IReadOnlyList<ToolParameter> Parameters { get; } = [];

        public int Entered => Volatile.Read(ref _entered);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public void Open() => _open.TrySetResult();

        public async Task WaitUntilRunningAsync(int count)
        {
            for (int attempt = 0; Volatile.Read(ref _running) < count; attempt++)
            {
                Assert.True(attempt < 3000, $"only {_running} calls started");
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }
        }

        protected override async Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context)
        {
            Interlocked.Increment(ref _entered);
            int now = Interlocked.Increment(ref _running);
            int most;
            while (now > (most = Volatile.Read(ref _mostAtOnce)) && Interlocked.CompareExchange(ref _mostAtOnce, now, most) != most)
            {
            }

            await _open.Task.WaitAsync(context.CancellationToken);
            Interlocked.Decrement(ref _running);
            return ToolResult.Success("through");
        }
    }

    private sealed class ThrowingTool : Tool
    {
        public override string Name => "boom";

        public override string Description => "always fails";

        public override IReadOnlyList<ToolParameter> Parameters { get; } = [];

        protected override Task<ToolResult> RunAsync(ToolArguments arguments, ToolContext context) => throw new InvalidOperationException("bug");
    }
}
