using System.Globalization;
using System.Text;

namespace Tern.Chat;

/// <summary>Python's <c>datetime.strftime</c> in the C locale (with glibc's <c>%-d</c> style unpadded numbers).</summary>
internal static class Strftime
{
    private static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    private static readonly string[] Months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTimeOffset t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char c = format[++i];
            bool unpadded = false;
            if (c == '-' && i + 1 < format.Length)
            {
                unpadded = true;
                c = format[++i];
            }
            string? text = Directive(t, c, unpadded);
            sb.Append(text ?? "%" + (unpadded ? "-" : "") + c);
        }
        return sb.ToString();
    }

    private static string? Directive(DateTimeOffset t, char c, bool unpadded)
    {
        string Num(int value, int width) => unpadded ? value.ToString(CultureInfo.InvariantCulture)
            : value.ToString(new string('0', width), CultureInfo.InvariantCulture);
        int hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
        return c switch
        {
            'a' => Days[(int)t.DayOfWeek][..3],
            'A' => Days[(int)t.DayOfWeek],
            'b' or 'h' => Months[t.Month - 1][..3],
            'B' => Months[t.Month - 1],
            'c' => $"{Days[(int)t.DayOfWeek][..3]} {Months[t.Month - 1][..3]} {t.Day,2} {t:HH:mm:ss} {t.Year}",
            'C' => Num(t.Year / 100, 2),
            'd' => Num(t.Day, 2),
            'D' => Format(t, "%m/%d/%y"),
            'e' => unpadded ? Num(t.Day, 1) : t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
            'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
            'F' => Format(t, "%Y-%m-%d"),
            'H' => Num(t.Hour, 2),
            'I' => Num(hour12, 2),
            'j' => Num(t.DayOfYear, 3),
            'k' => t.Hour.ToString(CultureInfo.InvariantCulture).PadLeft(2),
            'l' => hour12.ToString(CultureInfo.InvariantCulture).PadLeft(2),
            'm' => Num(t.Month, 2),
            'M' => Num(t.Minute, 2),
            'n' => "\n",
            'p' => t.Hour < 12 ? "AM" : "PM",
            'R' => Format(t, "%H:%M"),
            'S' => Num(t.Second, 2),
            't' => "\t",
            'T' => Format(t, "%H:%M:%S"),
            'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
            'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
            'x' => Format(t, "%m/%d/%y"),
            'X' => Format(t, "%H:%M:%S"),
            'y' => Num(t.Year % 100, 2),
            'Y' => t.Year.ToString(CultureInfo.InvariantCulture),
            'z' => (t.Offset < TimeSpan.Zero ? "-" : "+") + t.Offset.Duration().ToString("hhmm", CultureInfo.InvariantCulture),
            'Z' => t.Offset == TimeSpan.Zero ? "UTC" : "",
            '%' => "%",
            _ => null,
        };
    }
}
