using System.Globalization;

namespace Tern.Chat;

/// <summary>Python's int(str, base) and float(str) parsing.</summary>
internal static class Numbers
{
    public static bool TryParseInt(string text, int numberBase, out long value)
    {
        value = 0;
        string s = text.Trim(PyStr.WhitespaceChars).ToLowerInvariant();
        bool negative = false;
        if (s.Length > 0 && s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        if (s.Length > 1 && s[0] == '0' && s[1] is 'x' or 'o' or 'b')
        {
            int prefixBase = s[1] switch { 'x' => 16, 'o' => 8, _ => 2 };
            if (numberBase == 0 || numberBase == prefixBase)
            {
                numberBase = prefixBase;
                s = s[2..].TrimStart('_');
            }
        }
        if (numberBase == 0)
            numberBase = 10;
        if (numberBase is < 2 or > 36 || s.Length == 0 || s.StartsWith('_') || s.EndsWith('_') || s.Contains("__", StringComparison.Ordinal))
            return false;
        try
        {
            foreach (char c in s)
            {
                if (c == '_')
                    continue;
                int digit = char.IsAsciiDigit(c) ? c - '0' : c is >= 'a' and <= 'z' ? c - 'a' + 10 : 99;
                if (digit >= numberBase)
                    return false;
                value = checked(value * numberBase + digit);
            }
        }
        catch (OverflowException)
        {
            return false;
        }
        value = negative ? -value : value;
        return true;
    }

    public static bool TryParseFloat(string text, out double value)
    {
        string s = text.Trim(PyStr.WhitespaceChars).ToLowerInvariant();
        string body = s.TrimStart('+', '-');
        if (body is "inf" or "infinity" or "nan")
        {
            value = body == "nan" ? double.NaN : s.StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        if (s.Contains("__", StringComparison.Ordinal) || s.StartsWith('_') || s.EndsWith('_'))
        {
            value = 0;
            return false;
        }
        return double.TryParse(s.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }
}
