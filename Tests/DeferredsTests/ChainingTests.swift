import Testing
@testable import Deferreds

@Suite struct ChainingTests {
    @Test func smoke() {
        let d = Deferred<Int>()
        var got: String?
        d.addCallback { $0 * 2 }.addCallback { "\($0)" }.addCallback { got = $0 }
        d.callback(21)
        #expect(got == "42")
    }
}
