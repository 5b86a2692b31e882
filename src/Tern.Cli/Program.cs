using Tern.Cli;

return TernCommand.Run(args, Console.Out, Console.Error);
