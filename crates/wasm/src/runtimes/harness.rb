# CodeCapsule's function-call harness for Ruby (ruby.wasm). The judge runs this file as the program, followed by the
# line that calls the harness with the learner's program (in hexadecimal), the function's name and its parameters'
# names. The protocol (stdin, records, markers) is described in crates/core/src/function/protocol.rs.
#
# Everything the harness uses is bound before the program's code runs, as unbound methods called on their receivers
# (`bind_call`), so a program that reopens Integer, String, Array, Hash or IO, or replaces constants, changes nothing
# here; the nonce lives only in this lambda's locals.
codecapsule_harness = lambda do |program_hex, name, params|
  bind = ->(owner, method) { owner.instance_method(method) }
  is_a = bind.(Kernel, :is_a?)
  write = bind.(IO, :write)
  flush = bind.(IO, :flush)
  int_text = bind.(Integer, :to_s)
  float_text = bind.(Float, :to_s)
  codepoints = bind.(String, :codepoints)
  array_size = bind.(Array, :size)
  array_at = bind.(Array, :[])
  hash_pairs = bind.(Hash, :to_a)
  join = bind.(Array, :join)
  class_name = bind.(Module, :name)
  class_of = bind.(Kernel, :class)
  iseq_eval = bind.(RubyVM::InstructionSequence, :eval)
  push = bind.(Array, :push)
  pack = bind.(Array, :pack)
  lookup = bind.(Hash, :[])
  finite = bind.(Float, :finite?)
  responds = bind.(Kernel, :respond_to?)
  method_of = bind.(Kernel, :method)
  call_method = bind.(Method, :call)
  parameters_of = bind.(Method, :parameters)
  compile = RubyVM::InstructionSequence.method(:compile)
  leave = Process.method(:exit!)
  out, err = STDOUT, STDERR
  types = { integer: Integer, float: Float, string: String, array: Array, hash: Hash, true: TrueClass, false: FalseClass, nil: NilClass }
  escapes = (0...32).to_h { |code| [code, format("\\u%04x", code)] }.merge(34 => "\\\"", 92 => "\\\\")
  # Loops are `while` over sizes and indexes: the program may have replaced each, map and Range's methods.
  each = lambda do |array, &block|
    at = 0
    size = array_size.bind_call(array)
    while at < size
      block.(array_at.bind_call(array, at))
      at += 1
    end
  end

  lines = $stdin.read.force_encoding(Encoding::UTF_8).split("\n")
  nonce = lines[0].split(" ")[0]
  calls = lines[1..].reject(&:empty?).map { |line| line.split(" ", 2) }
  current = "load"
  out.sync = true
  err.sync = true

  record = lambda do |kind, payload|
    flush.bind_call($stdout) rescue nil
    flush.bind_call($stderr) rescue nil
    write.bind_call(out, "\x1e#{nonce} #{current} #{kind} 0 #{payload}\n")
    write.bind_call(err, "\x1e#{nonce} #{current}\n")
  end

  text = lambda do |value|
    parts = ['"']
    each.(codepoints.bind_call(value)) { |code| push.bind_call(parts, lookup.bind_call(escapes, code) || pack.bind_call([code], "U")) }
    push.bind_call(parts, '"')
    join.bind_call(parts, "")
  end

  unsupported = Class.new(StandardError)
  encode = lambda do |value, depth|
    raise unsupported, "a value nested deeper than 64 levels" if depth > 64

    if is_a.bind_call(value, types[:nil]) then "null"
    elsif is_a.bind_call(value, types[:true]) then "true"
    elsif is_a.bind_call(value, types[:false]) then "false"
    elsif is_a.bind_call(value, types[:integer]) then int_text.bind_call(value)
    elsif is_a.bind_call(value, types[:float])
      shown = float_text.bind_call(value)
      finite.bind_call(value) ? shown : text.(shown)
    elsif is_a.bind_call(value, types[:string]) then text.(value)
    elsif is_a.bind_call(value, types[:array])
      items = []
      each.(value) { |item| push.bind_call(items, encode.(item, depth + 1)) }
      "[#{join.bind_call(items, ",")}]"
    elsif is_a.bind_call(value, types[:hash])
      pairs = []
      each.(hash_pairs.bind_call(value)) do |pair|
        key, item = array_at.bind_call(pair, 0), array_at.bind_call(pair, 1)
        raise unsupported, "a Hash with a key that is not a String" unless is_a.bind_call(key, types[:string])

        push.bind_call(pairs, "#{text.(key)}:#{encode.(item, depth + 1)}")
      end
      "{#{join.bind_call(pairs, ",")}}"
    else
      raise unsupported, "a #{class_name.bind_call(class_of.bind_call(value))}, which is no value of the contract"
    end
  end

  describe = lambda do |error|
    frames = (error.backtrace || []).take_while { |frame| !frame.include?("codecapsule_harness") && !frame.start_with?("-e:") }
    write.bind_call(err, "#{frames.first || "main.rb"}: #{error.message} (#{class_name.bind_call(class_of.bind_call(error))})\n")
    frames.drop(1).each { |frame| write.bind_call(err, "\tfrom #{frame}\n") }
    text.("#{class_name.bind_call(class_of.bind_call(error))}: #{error.message}")
  rescue Exception
    text.("an exception that cannot be described")
  end

  main = TOPLEVEL_BINDING.receiver
  source = [program_hex].pack("H*").force_encoding(Encoding::UTF_8)
  begin
    program = compile.call(source, "main.rb", "main.rb", 1)
  rescue SyntaxError => error
    record.("did_not_compile", text.(error.message))
    leave.call(0)
  end
  begin
    iseq_eval.bind_call(program)
  rescue NoMemoryError
    record.("out_of_memory", "null")
    leave.call(0)
  rescue Exception => error
    record.("raised", describe.(error))
    leave.call(0)
  end
  unless responds.bind_call(main, name, true)
    record.("missing_function", text.("the program defines no top-level method `#{name}`"))
    leave.call(0)
  end
  function = method_of.bind_call(main, name)
  signature = parameters_of.bind_call(function)
  kinds = signature.map(&:first)
  required, optional = kinds.count(:req), kinds.count(:opt)
  unless required <= params.size && (params.size <= required + optional || kinds.include?(:rest)) && !kinds.include?(:keyreq)
    declared = signature.map { |_, param| param }.join(", ")
    record.("wrong_signature", text.("`#{name}` takes (#{declared}); the capsule calls it with #{params.size} (#{params.join(", ")})"))
    leave.call(0)
  end
  record.("ready", "null")
  each.(calls) do |pending|
    current = array_at.bind_call(pending, 0)
    begin
      value = call_method.bind_call(function, *iseq_eval.bind_call(compile.call(array_at.bind_call(pending, 1))))
    rescue NoMemoryError
      record.("out_of_memory", "null")
      leave.call(0)
    rescue Exception => error
      record.("raised", describe.(error))
      next
    end
    encoded = begin
      encode.(value, 0)
    rescue unsupported => error
      record.("unsupported", text.(error.message))
      next
    rescue Exception
      record.("unsupported", text.("a value that cannot be read"))
      next
    end
    record.("returned", encoded)
  end
  leave.call(0)
end
