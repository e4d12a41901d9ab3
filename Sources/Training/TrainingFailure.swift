// A run that cannot go on although its input was good (a diverged step): one line for the user,
// exit status 1, as any other runtime failure; unlike InputError it may be worth retrying with
// other options from the last checkpoint.

public struct TrainingFailure: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
