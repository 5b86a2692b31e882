using System.Text.Json;

namespace Tern.Server;

/// <summary>A request the server refuses, with the HTTP status and OpenAI's error fields.</summary>
public sealed class ApiException(int status, string message, string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>OpenAI's error type for the status.</summary>
    public string Type => Status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "invalid_request_error",
        429 => "rate_limit_error",
        503 => "unavailable_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    public static ApiException BadRequest(string message, string? param = null, string code = "invalid_value") => new(400, message, param, code);

    /// <summary>The JSON body: {"error": {"message", "type", "param", "code"}}.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(new
    {
        error = new { message = Message, type = Type, param = Param, code = Code },
    });
}
