# How Ruby in WebAssembly runs a learner's program. tools/fetch_runtime_packs.py puts this file in the Ruby pack's
# manifest; the judge (crates/wasm/src/runtimes/ruby.rs) evaluates it once per loaded runtime, after booting Ruby,
# and snapshots the memory there:
#
#   warm-up:   ruby-init(ruby -EUTF-8 -e_=0), then this file through rb_eval_string_protect
#   compiling: CodeCapsule.compile("<the program's UTF-8 bytes in hexadecimal>")
#   each test: CodeCapsule.run_compiled
#   (without compiling ahead: CodeCapsule.run("<the program in hexadecimal>"))
#
# `compile` compiles the program once for all of a submission's tests into an instruction sequence kept in the driver
# and returns: the judge snapshots that memory, and each test starts from it. A program that does not compile gets
# what running it gives (the same message and exit status, from `run`).
#
# `run` runs the program as `ruby -e <program>` would: at the top level (self is main, __FILE__ and $0 are "-e",
# line 1), with the same message on stderr and exit status 1 for an uncaught exception or a syntax error, the status
# of `exit`, at_exit handlers run last first. It then leaves through exit!, without Ruby's finalisation: the judge
# throws the instance away after each test. What the finalisation would still do for the program is done first: the
# at_exit handlers, then flushing stdout and stderr.
#
# Known differences from `ruby -e`: END blocks do not run (ruby.wasm exports no way to run Ruby's end procs, so only
# handlers given to at_exit are run, by this driver); Kernel#at_exit is this driver's; objects alive at the end are not
# finalised.
module CodeCapsule
  DRIVER_FILE = __FILE__
  # Held before any program runs, which may replace them.
  LEAVE = Process.method(:exit!)
  AT_EXIT = []
  # The program `compile` compiled.
  COMPILED = []

  # RubyGems' syntax_suggest loads the rest of itself on the first syntax error's message: ~0.1 s of wasmtime, over
  # a second of wasmi, in every test whose program does not parse. Paid once here, into the snapshot.
  begin
    TOPLEVEL_BINDING.eval("(", "-e", 1)
  rescue SyntaxError => error
    error.detailed_message(highlight: false)
  end

  def self.compile(hex)
    iseq = begin
      RubyVM::InstructionSequence.compile(source_of(hex), "-e", "-e", 1)
    rescue SyntaxError
      nil
    end
    run(hex) unless iseq # prints what running the program prints, and leaves
    COMPILED << iseq
    nil
  end

  def self.run(hex)
    source = source_of(hex)
    execute { TOPLEVEL_BINDING.eval(source, "-e", 1) }
  end

  def self.run_compiled
    iseq = COMPILED.first
    execute { iseq.eval }
  end

  def self.source_of(hex)
    [hex].pack("H*").force_encoding(Encoding::UTF_8)
  end

  # Runs the program the block runs, then its at_exit handlers, flushes and leaves with its exit status.
  def self.execute(&program)
    Object.send(:remove_const, :CodeCapsule)
    status = guarded(0, &program)
    while (handler = AT_EXIT.pop)
      status = guarded(status) { handler.call }
    end
    [$stdout, $stderr].each do |stream|
      stream.flush
    rescue Exception
      status = 1 if status.zero?
    end
    LEAVE.call(status)
  end

  # Runs the block; the exit status after it, `status` when it ended normally.
  def self.guarded(status)
    yield
    status
  rescue SystemExit => exit
    exit.status
  rescue Exception => error
    report(error)
    1
  end

  # Prints an uncaught exception as Ruby does, without this driver's frames. A syntax error has no frames of its own
  # and is printed after "-e: ", as `ruby -e` prints it.
  def self.report(error)
    # A compiled program's top level is labelled <compiled> where `ruby -e` says <main>.
    frames = (error.backtrace || []).take_while { |frame| !frame.start_with?("#{DRIVER_FILE}:") }
    frames = frames.map { |frame| frame.sub("in '<compiled>'", "in '<main>'") }
    error.set_backtrace(frames.empty? ? ["-e"] : frames)
    $stderr.write(error.full_message(highlight: false))
  rescue Exception
    STDERR.write("#{error.class}: #{error.message}\n")
  end
end

# The program's at_exit: its handlers are run by CodeCapsule.run after the program, last registered first. A closure
# over the driver's list, so that it works once the driver's constant is gone.
handlers = CodeCapsule::AT_EXIT
Kernel.send(:define_method, :at_exit) do |&handler|
  raise ArgumentError, "called without a block" unless handler

  handlers << handler
  handler
end
Kernel.send(:private, :at_exit)
