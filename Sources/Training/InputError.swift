// A problem with what the user gave (a file, a configuration, a combination of options): one line
// that names the thing and says what is wrong, printed without a backtrace by the CLI.

public struct InputError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
