using Microsoft.AspNetCore.Builder;

namespace Tern.Server;

/// <summary>OpenAI's Responses API: POST /v1/responses.</summary>
internal static class ResponsesRoutes
{
    public static void Map(WebApplication app, TernServer server)
    {
    }
}
