using System.Globalization;
using System.Text;

namespace Tern.Chat;

/// <summary>Python's <c>format % args</c> and <c>str.format(*args, **kwargs)</c> for the common conversions.</summary>
internal static class Printf
{
    public static string Format(Renderer renderer, string format, Value args)
    {
        var positional = args is ListValue { IsTuple: true } tuple ? tuple.Items : [args];
        var mapping = args as DictValue;
        // Python treats any non-tuple argument with __getitem__ as a mapping: unused, it is no error
        bool mappingLike = args is DictValue or ListValue { IsTuple: false } or RangeValue or UndefinedValue;
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= format.Length)
                throw new TemplateException("incomplete format");
            Value? value = null;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0 || mapping is null)
                    throw new TemplateException(mapping is null ? "format requires a mapping" : "incomplete format key");
                string key = format[(i + 1)..close];
                value = mapping.Get(key) ?? throw new TemplateException(Formatting.ReprString(key));
                i = close + 1;
            }
            var spec = ParseSpec(format, ref i);
            if (spec.Type == '%')
            {
                sb.Append('%');
                continue;
            }
            if (value is null)
            {
                if (next >= positional.Count)
                    throw new TemplateException("not enough arguments for format string");
                value = positional[next++];
            }
            sb.Append(Convert(value, spec));
            renderer.CheckLength(sb.Length);
        }
        if (!mappingLike && next < positional.Count)
            throw new TemplateException("not all arguments converted during string formatting");
        renderer.Produced(sb.Length);
        return sb.ToString();
    }

    private record struct Spec(string Flags, int Width, int Precision, char Type);

    private static Spec ParseSpec(string f, ref int i)
    {
        int start = i;
        while (i < f.Length && "-+ #0".Contains(f[i]))
            i++;
        string flags = f[start..i];
        int width = ReadInt(f, ref i);
        int precision = -1;
        if (i < f.Length && f[i] == '.')
        {
            i++;
            precision = Math.Max(ReadInt(f, ref i), 0);
        }
        if (i < f.Length && f[i] is 'h' or 'l' or 'L')
            i++;
        if (i >= f.Length)
            throw new TemplateException("incomplete format");
        return new Spec(flags, width, precision, f[i]);
    }

    private static int ReadInt(string f, ref int i)
    {
        int start = i;
        while (i < f.Length && char.IsAsciiDigit(f[i]))
            i++;
        if (i == start)
            return -1;
        return int.TryParse(f.AsSpan(start, i - start), CultureInfo.InvariantCulture, out int n) && n <= PyStr.MaxBuiltLength
            ? n
            : throw new TemplateException("width or precision too large in format string");
    }

    private static string Convert(Value value, Spec spec)
    {
        string body = spec.Type switch
        {
            's' => Formatting.Str(value),
            'r' or 'a' => Formatting.Repr(value),
            'd' or 'i' or 'u' => Sign(Integer(value, spec.Type).ToString(CultureInfo.InvariantCulture), spec.Flags),
            'x' => Sign(Convert(Integer(value, spec.Type), 16, spec.Flags.Contains('#') ? "0x" : ""), spec.Flags),
            'X' => Sign(Convert(Integer(value, spec.Type), 16, spec.Flags.Contains('#') ? "0X" : "").ToUpperInvariant(), spec.Flags),
            'o' => Sign(Convert(Integer(value, spec.Type), 8, spec.Flags.Contains('#') ? "0o" : ""), spec.Flags),
            'f' or 'F' or 'e' or 'E' or 'g' or 'G' => Sign(Number(Real(value, spec.Type), spec.Type, spec.Precision, spec.Flags.Contains('#')), spec.Flags),
            'c' => value is StringValue { Value.Length: 1 } ch ? ch.Value : char.ConvertFromUtf32((int)Integer(value, 'c')),
            _ => throw new TemplateException($"unsupported format character '{spec.Type}'"),
        };
        if (spec.Type == 's' && spec.Precision >= 0 && body.Length > spec.Precision)
            body = body[..spec.Precision];
        if (spec.Width > body.Length)
        {
            if (spec.Flags.Contains('-'))
                body = body.PadRight(spec.Width);
            else if (spec.Flags.Contains('0') && spec.Type is not ('s' or 'r' or 'a' or 'c'))
                body = body[0] is '-' or '+' or ' ' ? body[0] + body[1..].PadLeft(spec.Width - 1, '0') : body.PadLeft(spec.Width, '0');
            else
                body = body.PadLeft(spec.Width);
        }
        return body;
    }

    private static string Sign(string digits, string flags) =>
        digits.StartsWith('-') ? digits : flags.Contains('+') ? "+" + digits : flags.Contains(' ') ? " " + digits : digits;

    private static string Convert(long n, int radix, string prefix) =>
        (n < 0 ? "-" : "") + prefix + System.Convert.ToString(Math.Abs(n), radix);

    private static long Integer(Value v, char type) => v switch
    {
        IntValue i => i.Value,
        BoolValue b => b.Value ? 1 : 0,
        FloatValue f when type is 'd' or 'i' or 'u' => (long)Math.Truncate(f.Value),
        _ => throw new TemplateException($"%{type} format: {(type is 'd' or 'i' or 'u' ? "a real number" : "an integer")} is required, not {v.TypeName}"),
    };

    private static double Real(Value v, char type) => Operators.IsNumber(v)
        ? Operators.ToDouble(v)
        : throw new TemplateException($"must be real number, not {v.TypeName}");

    /// <summary>Python's f, e and g conversions (precision 6 by default; exponents have at least two digits).</summary>
    public static string Number(double d, char type, int precision, bool alternate = false)
    {
        if (double.IsNaN(d))
            return char.IsUpper(type) ? "NAN" : "nan";
        if (double.IsInfinity(d))
            return (d < 0 ? "-" : "") + (char.IsUpper(type) ? "INF" : "inf");
        if (precision < 0)
            precision = 6;
        switch (char.ToLowerInvariant(type))
        {
            case 'f':
                return d.ToString("F" + precision, CultureInfo.InvariantCulture);
            case 'e':
                return Exponent(d, precision, type == 'E');
            default:
                int p = Math.Max(precision, 1);
                if (d == 0)
                    return alternate ? "0." + new string('0', p - 1) : "0";
                string e = Exponent(d, p - 1, false);
                int exp = int.Parse(e.AsSpan(e.IndexOf('e') + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                string text = exp >= -4 && exp < p
                    ? d.ToString("F" + Math.Max(p - 1 - exp, 0), CultureInfo.InvariantCulture)
                    : Exponent(d, p - 1, type == 'G');
                if (!alternate)
                {
                    int ePos = text.IndexOfAny(['e', 'E']);
                    string mantissa = ePos >= 0 ? text[..ePos] : text;
                    if (mantissa.Contains('.'))
                        mantissa = mantissa.TrimEnd('0').TrimEnd('.');
                    text = mantissa + (ePos >= 0 ? text[ePos..] : "");
                }
                return text;
        }
    }

    private static string Exponent(double d, int precision, bool upper)
    {
        string s = d.ToString((upper ? "E" : "e") + precision, CultureInfo.InvariantCulture); // 1.5e+003
        int ePos = s.IndexOfAny(['e', 'E']);
        int exp = int.Parse(s.AsSpan(ePos + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return s[..(ePos + 1)] + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>Python's <c>str.format</c>: {} {0} {name} fields with attribute/index access, !r/!s and simple specs.</summary>
    public static string StrFormat(Renderer renderer, string format, CallArgs args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '}')
            {
                if (i + 1 < format.Length && format[i + 1] == '}')
                    i++;
                else
                    throw new TemplateException("Single '}' encountered in format string");
                sb.Append('}');
                continue;
            }
            if (c != '{')
            {
                sb.Append(c);
                continue;
            }
            if (i + 1 < format.Length && format[i + 1] == '{')
            {
                sb.Append('{');
                i++;
                continue;
            }
            int close = format.IndexOf('}', i);
            if (close < 0)
                throw new TemplateException("Single '{' encountered in format string");
            string field = format[(i + 1)..close];
            i = close;
            string spec = "";
            int colon = field.IndexOf(':');
            if (colon >= 0)
            {
                spec = field[(colon + 1)..];
                field = field[..colon];
            }
            char conversion = '\0';
            int bang = field.IndexOf('!');
            if (bang >= 0)
            {
                conversion = field.Length > bang + 1 ? field[bang + 1] : 's';
                field = field[..bang];
            }
            int end = field.IndexOfAny(['.', '[']);
            string head = end >= 0 ? field[..end] : field;
            Value value = head.Length == 0 ? Positional(args, auto++)
                : int.TryParse(head, NumberStyles.None, CultureInfo.InvariantCulture, out int index) ? Positional(args, index)
                : args.Named.TryGetValue(head, out var named) ? named : throw new TemplateException(Formatting.ReprString(head));
            value = Navigate(renderer, value, end >= 0 ? field[end..] : "");
            string text = conversion == 'r' ? Formatting.Repr(value) : spec.Length == 0 || conversion == 's' ? Formatting.Str(value) : ApplySpec(value, spec);
            sb.Append(conversion != '\0' && spec.Length > 0 ? ApplySpec(StringValue.Of(text), spec) : text);
            renderer.CheckLength(sb.Length);
        }
        renderer.Produced(sb.Length);
        return sb.ToString();
    }

    private static Value Positional(CallArgs args, int index) => index < args.Positional.Count
        ? args.Positional[index]
        : throw new TemplateException($"Replacement index {index} out of range for positional args tuple");

    private static Value Navigate(Renderer renderer, Value value, string path)
    {
        int i = 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int end = path.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? path.Length : end;
                value = Access.GetAttr(renderer, value, path[(i + 1)..end]);
                i = end;
            }
            else
            {
                int end = path.IndexOf(']', i);
                string key = path[(i + 1)..(end < 0 ? path.Length : end)];
                value = Access.GetItem(renderer, value, long.TryParse(key, out long n) ? IntValue.Of(n) : StringValue.Of(key));
                i = end < 0 ? path.Length : end + 1;
            }
        }
        return value;
    }

    /// <summary>A format spec <c>[[fill]align][sign][0][width][,][.precision][type]</c>.</summary>
    private static string ApplySpec(Value value, string spec)
    {
        int i = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=')
        {
            fill = spec[0];
            align = spec[1];
            i = 2;
        }
        else if (spec.Length >= 1 && spec[0] is '<' or '>' or '^' or '=')
        {
            align = spec[0];
            i = 1;
        }
        string sign = i < spec.Length && spec[i] is '+' or '-' or ' ' ? spec[i++].ToString() : "";
        if (i < spec.Length && spec[i] == '0')
        {
            fill = '0';
            align = align == '\0' ? '=' : align;
            i++;
        }
        int width = ReadInt(spec, ref i);
        bool grouping = i < spec.Length && spec[i] == ',';
        if (grouping)
            i++;
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = ReadInt(spec, ref i);
        }
        char type = i < spec.Length ? spec[i] : '\0';
        string body;
        if (value is StringValue s && type is '\0' or 's')
            body = precision >= 0 && s.Value.Length > precision ? s.Value[..precision] : s.Value;
        else if (Operators.IsNumber(value) && type is 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%')
            body = type == '%' ? Number(Operators.ToDouble(value) * 100, 'f', precision) + "%" : Number(Operators.ToDouble(value), type, precision);
        else if (Operators.TryInt(value, out long n) && type is '\0' or 'd' && value is not FloatValue)
            body = grouping ? n.ToString("N0", CultureInfo.InvariantCulture) : n.ToString(CultureInfo.InvariantCulture);
        else if (value is FloatValue f && type == '\0')
            body = precision >= 0 ? Number(f.Value, 'g', precision) : Formatting.FloatRepr(f.Value);
        else
            body = Formatting.Str(value);
        if (Operators.IsNumber(value) && sign is "+" or " " && !body.StartsWith('-'))
            body = sign + body;
        if (align == '\0')
            align = Operators.IsNumber(value) ? '>' : '<';
        if (align == '=')
        {
            string prefix = body.Length > 0 && body[0] is '-' or '+' or ' ' ? body[..1] : "";
            return prefix + PyStr.Pad(body[prefix.Length..], width - prefix.Length, fill, '>');
        }
        return PyStr.Pad(body, width, fill, align);
    }
}
