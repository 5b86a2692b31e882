using System.Text;

namespace Tern.Tools;

/// <summary>
/// Reading workspace files as text. A file is text when it has no NUL byte and is valid UTF-8 (a leading byte order
/// mark is allowed and remembered); anything else is treated as binary, which the file tools refuse and grep skips.
/// </summary>
internal static class TextFile
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static ReadOnlySpan<byte> ByteOrderMark => [0xEF, 0xBB, 0xBF];

    /// <summary>Reads a resolved file whole, refusing it when it is larger than <paramref name="maxBytes"/>.</summary>
    public static byte[] ReadBytes(Workspace workspace, WorkspaceEntry entry, long maxBytes, string purpose)
    {
        using var stream = workspace.OpenRead(entry.FullPath, entry.Shown);
        long length = stream.Length;
        if (length > maxBytes)
        {
            throw new ToolSandboxException($"{entry.Shown} is {length} bytes; {purpose} is limited to files of {maxBytes} bytes");
        }

        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Decodes UTF-8 text, or returns null with the reason it is not text.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> bytes, out bool hasByteOrderMark, out string? notText)
    {
        hasByteOrderMark = bytes.StartsWith(ByteOrderMark);
        if (hasByteOrderMark)
        {
            bytes = bytes[3..];
        }

        if (bytes.IndexOf((byte)0) >= 0)
        {
            notText = "is a binary file (it contains NUL bytes)";
            return null;
        }

        try
        {
            notText = null;
            return Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            notText = "is not UTF-8 text (it looks like a binary file)";
            return null;
        }
    }

    /// <summary>Decodes a file read with <see cref="ReadBytes"/>, or throws the refusal for a binary file.</summary>
    public static string Decode(byte[] bytes, WorkspaceEntry entry, string toolName, out bool hasByteOrderMark) =>
        TryDecode(bytes, out hasByteOrderMark, out string? notText)
            ?? throw new ToolSandboxException($"{entry.Shown} {notText}; {toolName} only works on text files");

    public static byte[] Encode(string text, bool byteOrderMark)
    {
        int count = Encoding.UTF8.GetByteCount(text);
        int offset = byteOrderMark ? 3 : 0;
        var bytes = new byte[offset + count];
        ByteOrderMark[..offset].CopyTo(bytes);
        Encoding.UTF8.GetBytes(text, bytes.AsSpan(offset));
        return bytes;
    }

    /// <summary>Number of lines: newline count, plus one for a last line without a newline.</summary>
    public static int CountLines(string text)
    {
        int count = text.AsSpan().Count('\n');
        return text.Length > 0 && text[^1] != '\n' ? count + 1 : count;
    }
}
