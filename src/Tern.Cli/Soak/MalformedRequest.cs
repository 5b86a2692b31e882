using System.Text.Json.Nodes;

namespace Tern.Cli.Soak;

/// <summary>A request the server must refuse, and with which status (OpenAI's error JSON in the body).</summary>
internal sealed record MalformedRequest(string Name, SoakRequest Request)
{
    public const string UnknownModel = "soak-no-such-model";

    /// <summary>
    /// Every malformed request of the mix. <paramref name="overContext"/> is a text of more tokens than a sequence holds.
    /// An unknown model is a 404 on chat in router mode; a one-model server answers chat whatever the model is called
    /// (as llama-server does), so there the unknown model is asked for at GET /v1/models/NAME.
    /// </summary>
    public static IReadOnlyList<MalformedRequest> All(SoakServerInfo server, string? model, string chatPath, string overContext)
    {
        JsonObject User(string text) => new() { ["role"] = "user", ["content"] = text };
        string Body(Action<JsonObject> change)
        {
            var body = new JsonObject { ["messages"] = new JsonArray(User("Once upon a time")), ["max_tokens"] = 8 };
            if (model is not null)
                body["model"] = model;
            change(body);
            return body.ToJsonString();
        }

        MalformedRequest Post(string name, string body, int status = 400, string? path = null) =>
            new(name, new SoakRequest("malformed/" + name, HttpMethod.Post, path ?? chatPath, body, Stream: false, status));

        return
        [
            Post("bad_json", """{"messages": [{"role": "user", "content": "unfinished"""),
            Post("not_an_object", "[1, 2, 3]"),
            Post("messages_wrong_type", Body(b => b["messages"] = "hello")),
            Post("missing_messages", Body(b => b.Remove("messages"))),
            Post("unknown_role", Body(b => b["messages"] = new JsonArray(new JsonObject { ["role"] = "wizard", ["content"] = "hi" }))),
            Post("temperature_wrong_type", Body(b => b["temperature"] = "hot")),
            Post("max_tokens_oversized", Body(b => b["max_tokens"] = 1_000_000_000_000)),
            Post("max_tokens_negative", Body(b => b["max_tokens"] = -5)),
            Post("n_above_one", Body(b => b["n"] = 2)),
            Post("unknown_parameter", Body(b => b["soak_no_such_parameter"] = 1)),
            Post("over_context", Body(b => b["messages"] = new JsonArray(User(overContext)))),
            Post("unknown_route", Body(_ => { }), 404, "/v1/chat/no-such-route"),
            server.Router
                ? Post("unknown_model", Body(b => b["model"] = UnknownModel), 404)
                : new("unknown_model", new SoakRequest("malformed/unknown_model", HttpMethod.Get, "/v1/models/" + UnknownModel, null, Stream: false, 404)),
        ];
    }
}
