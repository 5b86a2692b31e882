using System.Buffers;
using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// GPT-2's reversible byte-to-character map: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100 and up, so every byte string becomes a string of visible characters (a space is 'Ġ', a newline 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    public static bool TryDecode(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, one mapped character per byte.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int count = Encoding.UTF8.GetByteCount(text);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(count);
        try
        {
            Encoding.UTF8.GetBytes(text, bytes);
            return string.Create(count, bytes, static (chars, b) =>
            {
                for (int i = 0; i < chars.Length; i++)
                    chars[i] = ByteToChar[b[i]];
            });
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        for (int b = 0x21; b <= 0x7E; b++)
            Assign(b);
        for (int b = 0xA1; b <= 0xAC; b++)
            Assign(b);
        for (int b = 0xAE; b <= 0xFF; b++)
            Assign(b);
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            if (!assigned[b])
                map[b] = (char)(256 + next++);
        }
        return map;

        void Assign(int b)
        {
            map[b] = (char)b;
            assigned[b] = true;
        }
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++)
            map[ByteToChar[b]] = (byte)b;
        return map;
    }
}
