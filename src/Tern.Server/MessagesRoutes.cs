using Microsoft.AspNetCore.Builder;

namespace Tern.Server;

/// <summary>Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens.</summary>
internal static class MessagesRoutes
{
    public static void Map(WebApplication app, TernServer server)
    {
    }
}
