// The tool sandbox is Linux-only (bubblewrap, /proc, statx).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
