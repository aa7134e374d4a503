import BatonCommands
import Foundation

/// The executable: hands the command line to ``BatonCommand`` and exits with the status it returns.
@main
enum Entrypoint {
    static func main() async {
        let status = await BatonCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
        exit(status)
    }
}
