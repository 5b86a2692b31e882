using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Tern.Chat;

/// <summary>Python's <c>str()</c> and <c>repr()</c> of template values, as Jinja2 prints them.</summary>
internal static class Formatting
{
    private const int MaxNesting = 200;

    /// <summary><c>str(x)</c>, what <c>{{ x }}</c> prints; undefined prints as nothing.</summary>
    public static string Str(Value value) => value switch
    {
        StringValue s => s.Value,
        UndefinedValue => "",
        _ => Repr(value),
    };

    public static string Repr(Value value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, Value value, int depth)
    {
        if (depth > MaxNesting || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateException("maximum recursion depth exceeded while getting the repr of an object");
        if (sb.Length > PyStr.MaxBuiltLength)
            throw new TemplateException("value too large to convert to a string");
        switch (value)
        {
            case NoneValue:
                sb.Append("None");
                break;
            case BoolValue b:
                sb.Append(b.Value ? "True" : "False");
                break;
            case IntValue i:
                sb.Append(i.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case FloatValue f:
                sb.Append(FloatRepr(f.Value));
                break;
            case StringValue s:
                sb.Append(ReprString(s.Value));
                break;
            case UndefinedValue:
                sb.Append("Undefined");
                break;
            case ListValue list:
                sb.Append(list.IsTuple ? '(' : '[');
                for (int k = 0; k < list.Items.Count; k++)
                {
                    if (k > 0)
                        sb.Append(", ");
                    AppendRepr(sb, list.Items[k], depth + 1);
                }
                if (list.IsTuple && list.Items.Count == 1)
                    sb.Append(',');
                sb.Append(list.IsTuple ? ')' : ']');
                break;
            case DictValue dict:
                sb.Append('{');
                bool first = true;
                foreach (var (k, v) in dict.Items)
                {
                    if (!first)
                        sb.Append(", ");
                    first = false;
                    AppendRepr(sb, k, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, v, depth + 1);
                }
                sb.Append('}');
                break;
            case NamespaceValue ns:
                sb.Append("<Namespace {");
                bool firstAttr = true;
                foreach (var (k, v) in ns.Attributes)
                {
                    if (!firstAttr)
                        sb.Append(", ");
                    firstAttr = false;
                    sb.Append(ReprString(k)).Append(": ");
                    AppendRepr(sb, v, depth + 1);
                }
                sb.Append("}>");
                break;
            case RangeValue r:
                sb.Append("range(").Append(r.Start).Append(", ").Append(r.Stop);
                if (r.Step != 1)
                    sb.Append(", ").Append(r.Step);
                sb.Append(')');
                break;
            case MacroValue m:
                sb.Append("<Macro ").Append(ReprString(m.Name)).Append('>');
                break;
            case BuiltinFunction fn:
                sb.Append("<built-in function ").Append(fn.Name).Append('>');
                break;
            case BoundMethod bm:
                sb.Append("<built-in method ").Append(bm.Name).Append(" of ").Append(bm.Target.TypeName).Append(" object>");
                break;
            default:
                sb.Append('<').Append(value.TypeName).Append(" object>");
                break;
        }
    }

    /// <summary>Python's <c>repr(float)</c>: the shortest round-trip digits, fixed between 1e-4 and 1e16, else 1e+16 style.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
            return "nan";
        if (double.IsInfinity(d))
            return d > 0 ? "inf" : "-inf";
        if (d == 0)
            return double.IsNegative(d) ? "-0.0" : "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = 0;
        int ePos = r.IndexOfAny(['E', 'e']);
        if (ePos >= 0)
        {
            e = int.Parse(r.AsSpan(ePos + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..ePos];
        }
        int dot = r.IndexOf('.');
        string intPart = dot >= 0 ? r[..dot] : r;
        string digits = intPart + (dot >= 0 ? r[(dot + 1)..] : "");
        int decpt = intPart.Length + e; // value = 0.digits * 10^decpt
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
            lead++;
        digits = digits[lead..].TrimEnd('0');
        decpt -= lead;
        if (digits.Length == 0)
            digits = "0";
        var sb = new StringBuilder();
        if (d < 0)
            sb.Append('-');
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0)
                sb.Append("0.").Append('0', -decpt).Append(digits);
            else if (decpt >= digits.Length)
                sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
            else
                sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        else
        {
            int exp = decpt - 1;
            sb.Append(digits[0]);
            if (digits.Length > 1)
                sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>repr(str)</c>: single quotes unless the text has one and no double quote.</summary>
    public static string ReprString(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2);
        sb.Append(quote);
        foreach (var rune in s.EnumerateRunes())
        {
            int c = rune.Value;
            if (c == quote || c == '\\')
                sb.Append('\\').Append((char)c);
            else if (c == '\n')
                sb.Append("\\n");
            else if (c == '\r')
                sb.Append("\\r");
            else if (c == '\t')
                sb.Append("\\t");
            else if (c < 0x20 || c == 0x7f)
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c < 0x7f || IsPrintable(rune) || c == TemplateLimits.LiteralMark)
                sb.Append(rune.ToString());
            else if (c <= 0xff)
                sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c <= 0xffff)
                sb.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            else
                sb.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
        }
        sb.Append(quote);
        return sb.ToString();
    }

    private static bool IsPrintable(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.SpaceSeparator => false,
        _ => true,
    };
}
