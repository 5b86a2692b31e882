using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Tern.Server;

namespace Tern.Server.Tests;

/// <summary>A Responses request's instructions and input items as the chat messages the template gets.</summary>
public sealed class ResponsesInputTests
{
    [Fact]
    public async Task A_string_input_after_instructions_is_a_system_and_a_user_message()
    {
        var messages = await ReadAsync("""{"instructions": "Be brief.", "input": "Hi"}""");

        Assert.Equal("""[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]""", messages.ToJsonString());
    }

    [Fact]
    public async Task A_turn_with_reasoning_text_and_calls_is_one_assistant_message_and_the_outputs_tool_messages()
    {
        var messages = await ReadAsync("""
            {"input": [
              {"role": "developer", "content": [{"type": "input_text", "text": "Use "}, {"type": "input_text", "text": "tools."}]},
              {"type": "message", "role": "user", "content": "Weather in Paris and Rome?"},
              {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "Two cities."}]},
              {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
              {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}", "status": "completed"},
              {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\": \"Rome\"}"},
              {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
              {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rainy"}]},
              {"role": "assistant", "content": "Sunny in Paris, rainy in Rome."},
              {"role": "user", "content": "Thanks"}]}
            """);

        Assert.Equal(JsonNode.Parse("""
            [{"role": "developer", "content": "Use tools."},
             {"role": "user", "content": "Weather in Paris and Rome?"},
             {"role": "assistant", "content": "Checking.", "reasoning_content": "Two cities.", "tool_calls": [
               {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
               {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
             {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
             {"role": "tool", "tool_call_id": "call_2", "name": "get_weather", "content": "rainy"},
             {"role": "assistant", "content": "Sunny in Paris, rainy in Rome."},
             {"role": "user", "content": "Thanks"}]
            """)!.ToJsonString(), messages.ToJsonString());
    }

    [Fact]
    public async Task A_reasoning_item_with_only_a_summary_gives_the_summary_text()
    {
        var messages = await ReadAsync("""
            {"input": [{"role": "user", "content": "Hi"}, {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Greeting."}]},
                       {"role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]}]}
            """);

        Assert.Equal("""{"role":"assistant","content":"Hello.","reasoning_content":"Greeting."}""", messages[1]!.ToJsonString());
    }

    [Fact]
    public async Task A_built_in_tool_run_sent_back_is_the_call_and_its_result()
    {
        var messages = await ReadAsync("""
            {"input": [{"role": "user", "content": "Read notes"},
                       {"type": "mcp_call", "id": "mcp_1", "server_label": "tern", "name": "read_file", "arguments": "{\"path\": \"notes.txt\"}", "output": "tern", "error": null, "status": "completed"},
                       {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It says tern."}]}]}
            """);

        Assert.Equal(JsonNode.Parse("""
            [{"role": "user", "content": "Read notes"},
             {"role": "assistant", "content": "", "tool_calls": [{"id": "mcp_1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "notes.txt"}}}]},
             {"role": "tool", "tool_call_id": "mcp_1", "name": "read_file", "content": "tern"},
             {"role": "assistant", "content": "It says tern."}]
            """)!.ToJsonString(), messages.ToJsonString());
    }

    private static async Task<JsonArray> ReadAsync(string json)
    {
        var http = new DefaultHttpContext();
        http.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(json));
        var r = await JsonRequest.ReadAsync(http.Request, 1 << 20, TestContext.Current.CancellationToken);
        return ResponsesInput.Read(r, r.String("instructions"));
    }
}
