(module
  (type $t0 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t1 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t2 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t3 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t4 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t5 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t6 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t7 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t8 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t9 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t10 (func (param i32 i32 i32 i32 i32 i32 i32 f32)))
  (type $t11 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t12 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t13 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t14 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t15 (func (param i32 i32 i32 i32)))
  (type $t16 (func (param f64) (result f64)))
  (type $t17 (func (param i32 i32 i32)))
  (type $t18 (func (param i32 i32 i32)))
  (type $t19 (func (param i32 i32 i32)))
  (type $t20 (func (param i32 i32 i32 i32 i32 f64)))
  (type $t21 (func (param i32 i32 i32 i32 i32 i32)))
  (type $t22 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t23 (func (param i32 i32 i32)))
  (type $t24 (func (param i32 i32 i32)))
  (type $t25 (func (param i32 i32) (result i32)))
  (import "env" "memory" (memory $env.memory 1 65536 shared))
  (func $f32_tile_2x4 (type $t0) (param $xp i32) (param $wp i32) (param $outp i32) (param $rowBytes i32) (param $outRowBytes i32) (param $kVecBytes i32) (param $kBytes i32)
    (local $k i32) (local $xRow0 i32) (local $xRow1 i32) (local $wRow0 i32) (local $wRow1 i32) (local $wRow2 i32) (local $wRow3 i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $acc4 v128) (local $acc5 v128) (local $acc6 v128) (local $acc7 v128) (local $wVec0 v128) (local $wVec1 v128) (local $wVec2 v128) (local $wVec3 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $sum2 f32) (local $sum3 f32) (local $sum4 f32) (local $sum5 f32) (local $sum6 f32) (local $sum7 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $xRow0
    local.get $rowBytes
    i32.add
    local.set $xRow1
    local.get $wp
    local.set $wRow0
    local.get $wRow0
    local.get $rowBytes
    i32.add
    local.set $wRow1
    local.get $wRow1
    local.get $rowBytes
    i32.add
    local.set $wRow2
    local.get $wRow2
    local.get $rowBytes
    i32.add
    local.set $wRow3
    block $B0
      loop $L1
        local.get $k
        local.get $kVecBytes
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $wRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec0
        local.get $wRow1
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec1
        local.get $wRow2
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec2
        local.get $wRow3
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec3
        local.get $xRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow1
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $k
        i32.const 16
        i32.add
        local.set $k
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    local.get $acc2
    f32x4.extract_lane 0
    local.get $acc2
    f32x4.extract_lane 1
    f32.add
    local.get $acc2
    f32x4.extract_lane 2
    local.get $acc2
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum2
    local.get $acc3
    f32x4.extract_lane 0
    local.get $acc3
    f32x4.extract_lane 1
    f32.add
    local.get $acc3
    f32x4.extract_lane 2
    local.get $acc3
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum3
    local.get $acc4
    f32x4.extract_lane 0
    local.get $acc4
    f32x4.extract_lane 1
    f32.add
    local.get $acc4
    f32x4.extract_lane 2
    local.get $acc4
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum4
    local.get $acc5
    f32x4.extract_lane 0
    local.get $acc5
    f32x4.extract_lane 1
    f32.add
    local.get $acc5
    f32x4.extract_lane 2
    local.get $acc5
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum5
    local.get $acc6
    f32x4.extract_lane 0
    local.get $acc6
    f32x4.extract_lane 1
    f32.add
    local.get $acc6
    f32x4.extract_lane 2
    local.get $acc6
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum6
    local.get $acc7
    f32x4.extract_lane 0
    local.get $acc7
    f32x4.extract_lane 1
    f32.add
    local.get $acc7
    f32x4.extract_lane 2
    local.get $acc7
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum7
    block $B2
      loop $L3
        local.get $k
        local.get $kBytes
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum0
        f32.add
        local.set $sum0
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow1
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum1
        f32.add
        local.set $sum1
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow2
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum2
        f32.add
        local.set $sum2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow3
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum3
        f32.add
        local.set $sum3
        local.get $xRow1
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum4
        f32.add
        local.set $sum4
        local.get $xRow1
        local.get $k
        i32.add
        f32.load
        local.get $wRow1
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum5
        f32.add
        local.set $sum5
        local.get $xRow1
        local.get $k
        i32.add
        f32.load
        local.get $wRow2
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum6
        f32.add
        local.set $sum6
        local.get $xRow1
        local.get $k
        i32.add
        f32.load
        local.get $wRow3
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum7
        f32.add
        local.set $sum7
        local.get $k
        i32.const 4
        i32.add
        local.set $k
        br $L3
      end
    end
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $sum1
    f32.store offset=4
    local.get $outRow
    local.get $sum2
    f32.store offset=8
    local.get $outRow
    local.get $sum3
    f32.store offset=12
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum4
    f32.store
    local.get $outRow
    local.get $sum5
    f32.store offset=4
    local.get $outRow
    local.get $sum6
    f32.store offset=8
    local.get $outRow
    local.get $sum7
    f32.store offset=12)
  (func $f32_tile_2x1 (type $t1) (param $xp i32) (param $wp i32) (param $outp i32) (param $rowBytes i32) (param $outRowBytes i32) (param $kVecBytes i32) (param $kBytes i32)
    (local $k i32) (local $xRow0 i32) (local $xRow1 i32) (local $wRow0 i32) (local $acc0 v128) (local $acc1 v128) (local $wVec0 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $xRow0
    local.get $rowBytes
    i32.add
    local.set $xRow1
    local.get $wp
    local.set $wRow0
    block $B0
      loop $L1
        local.get $k
        local.get $kVecBytes
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $wRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec0
        local.get $xRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $k
        i32.const 16
        i32.add
        local.set $k
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    block $B2
      loop $L3
        local.get $k
        local.get $kBytes
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum0
        f32.add
        local.set $sum0
        local.get $xRow1
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum1
        f32.add
        local.set $sum1
        local.get $k
        i32.const 4
        i32.add
        local.set $k
        br $L3
      end
    end
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum1
    f32.store)
  (func $f32_tile_1x4 (type $t2) (param $xp i32) (param $wp i32) (param $outp i32) (param $rowBytes i32) (param $outRowBytes i32) (param $kVecBytes i32) (param $kBytes i32)
    (local $k i32) (local $xRow0 i32) (local $wRow0 i32) (local $wRow1 i32) (local $wRow2 i32) (local $wRow3 i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $wVec0 v128) (local $wVec1 v128) (local $wVec2 v128) (local $wVec3 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $sum2 f32) (local $sum3 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $wp
    local.set $wRow0
    local.get $wRow0
    local.get $rowBytes
    i32.add
    local.set $wRow1
    local.get $wRow1
    local.get $rowBytes
    i32.add
    local.set $wRow2
    local.get $wRow2
    local.get $rowBytes
    i32.add
    local.set $wRow3
    block $B0
      loop $L1
        local.get $k
        local.get $kVecBytes
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $wRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec0
        local.get $wRow1
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec1
        local.get $wRow2
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec2
        local.get $wRow3
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec3
        local.get $xRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $k
        i32.const 16
        i32.add
        local.set $k
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    local.get $acc2
    f32x4.extract_lane 0
    local.get $acc2
    f32x4.extract_lane 1
    f32.add
    local.get $acc2
    f32x4.extract_lane 2
    local.get $acc2
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum2
    local.get $acc3
    f32x4.extract_lane 0
    local.get $acc3
    f32x4.extract_lane 1
    f32.add
    local.get $acc3
    f32x4.extract_lane 2
    local.get $acc3
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum3
    block $B2
      loop $L3
        local.get $k
        local.get $kBytes
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum0
        f32.add
        local.set $sum0
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow1
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum1
        f32.add
        local.set $sum1
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow2
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum2
        f32.add
        local.set $sum2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow3
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum3
        f32.add
        local.set $sum3
        local.get $k
        i32.const 4
        i32.add
        local.set $k
        br $L3
      end
    end
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $sum1
    f32.store offset=4
    local.get $outRow
    local.get $sum2
    f32.store offset=8
    local.get $outRow
    local.get $sum3
    f32.store offset=12)
  (func $f32_tile_1x1 (type $t3) (param $xp i32) (param $wp i32) (param $outp i32) (param $rowBytes i32) (param $outRowBytes i32) (param $kVecBytes i32) (param $kBytes i32)
    (local $k i32) (local $xRow0 i32) (local $wRow0 i32) (local $acc0 v128) (local $wVec0 v128) (local $xVec v128) (local $sum0 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $wp
    local.set $wRow0
    block $B0
      loop $L1
        local.get $k
        local.get $kVecBytes
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $wRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $wVec0
        local.get $xRow0
        local.get $k
        i32.add
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $k
        i32.const 16
        i32.add
        local.set $k
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    block $B2
      loop $L3
        local.get $k
        local.get $kBytes
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $xRow0
        local.get $k
        i32.add
        f32.load
        local.get $wRow0
        local.get $k
        i32.add
        f32.load
        f32.mul
        local.get $sum0
        f32.add
        local.set $sum0
        local.get $k
        i32.const 4
        i32.add
        local.set $k
        br $L3
      end
    end
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store)
  (func $q8_tile_4x2 (type $t4) (param $xp i32) (param $qp i32) (param $sp i32) (param $outp i32) (param $rowBytes i32) (param $qRowBytes i32) (param $sRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32)
    (local $block i32) (local $xRow0 i32) (local $xRow1 i32) (local $xRow2 i32) (local $xRow3 i32) (local $qRow0 i32) (local $qRow1 i32) (local $scaleRow0 i32) (local $scaleRow1 i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $acc4 v128) (local $acc5 v128) (local $acc6 v128) (local $acc7 v128) (local $wVec0 v128) (local $wVec1 v128) (local $scaleVec0 v128) (local $scaleVec1 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $sum2 f32) (local $sum3 f32) (local $sum4 f32) (local $sum5 f32) (local $sum6 f32) (local $sum7 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $xRow0
    local.get $rowBytes
    i32.add
    local.set $xRow1
    local.get $xRow1
    local.get $rowBytes
    i32.add
    local.set $xRow2
    local.get $xRow2
    local.get $rowBytes
    i32.add
    local.set $xRow3
    local.get $qp
    local.set $qRow0
    local.get $qRow0
    local.get $qRowBytes
    i32.add
    local.set $qRow1
    local.get $sp
    local.set $scaleRow0
    local.get $scaleRow0
    local.get $sRowBytes
    i32.add
    local.set $scaleRow1
    block $B0
      loop $L1
        local.get $block
        local.get $numBlocks
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $scaleRow0
        v128.load32_splat align=1
        local.set $scaleVec0
        local.get $scaleRow1
        v128.load32_splat align=1
        local.set $scaleVec1
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $xRow0
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow1
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow2
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc4
        f32x4.add
        local.set $acc4
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc5
        f32x4.add
        local.set $acc5
        local.get $xRow3
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc6
        f32x4.add
        local.set $acc6
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc7
        f32x4.add
        local.set $acc7
        local.get $xRow0
        i32.const 128
        i32.add
        local.set $xRow0
        local.get $xRow1
        i32.const 128
        i32.add
        local.set $xRow1
        local.get $xRow2
        i32.const 128
        i32.add
        local.set $xRow2
        local.get $xRow3
        i32.const 128
        i32.add
        local.set $xRow3
        local.get $qRow0
        i32.const 32
        i32.add
        local.set $qRow0
        local.get $qRow1
        i32.const 32
        i32.add
        local.set $qRow1
        local.get $scaleRow0
        i32.const 4
        i32.add
        local.set $scaleRow0
        local.get $scaleRow1
        i32.const 4
        i32.add
        local.set $scaleRow1
        local.get $block
        i32.const 1
        i32.add
        local.set $block
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    local.get $acc2
    f32x4.extract_lane 0
    local.get $acc2
    f32x4.extract_lane 1
    f32.add
    local.get $acc2
    f32x4.extract_lane 2
    local.get $acc2
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum2
    local.get $acc3
    f32x4.extract_lane 0
    local.get $acc3
    f32x4.extract_lane 1
    f32.add
    local.get $acc3
    f32x4.extract_lane 2
    local.get $acc3
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum3
    local.get $acc4
    f32x4.extract_lane 0
    local.get $acc4
    f32x4.extract_lane 1
    f32.add
    local.get $acc4
    f32x4.extract_lane 2
    local.get $acc4
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum4
    local.get $acc5
    f32x4.extract_lane 0
    local.get $acc5
    f32x4.extract_lane 1
    f32.add
    local.get $acc5
    f32x4.extract_lane 2
    local.get $acc5
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum5
    local.get $acc6
    f32x4.extract_lane 0
    local.get $acc6
    f32x4.extract_lane 1
    f32.add
    local.get $acc6
    f32x4.extract_lane 2
    local.get $acc6
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum6
    local.get $acc7
    f32x4.extract_lane 0
    local.get $acc7
    f32x4.extract_lane 1
    f32.add
    local.get $acc7
    f32x4.extract_lane 2
    local.get $acc7
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum7
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $sum1
    f32.store offset=4
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum2
    f32.store
    local.get $outRow
    local.get $sum3
    f32.store offset=4
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum4
    f32.store
    local.get $outRow
    local.get $sum5
    f32.store offset=4
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum6
    f32.store
    local.get $outRow
    local.get $sum7
    f32.store offset=4)
  (func $q8_tile_4x1 (type $t5) (param $xp i32) (param $qp i32) (param $sp i32) (param $outp i32) (param $rowBytes i32) (param $qRowBytes i32) (param $sRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32)
    (local $block i32) (local $xRow0 i32) (local $xRow1 i32) (local $xRow2 i32) (local $xRow3 i32) (local $qRow0 i32) (local $scaleRow0 i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $wVec0 v128) (local $scaleVec0 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $sum2 f32) (local $sum3 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $xRow0
    local.get $rowBytes
    i32.add
    local.set $xRow1
    local.get $xRow1
    local.get $rowBytes
    i32.add
    local.set $xRow2
    local.get $xRow2
    local.get $rowBytes
    i32.add
    local.set $xRow3
    local.get $qp
    local.set $qRow0
    local.get $sp
    local.set $scaleRow0
    block $B0
      loop $L1
        local.get $block
        local.get $numBlocks
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $scaleRow0
        v128.load32_splat align=1
        local.set $scaleVec0
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow1
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xRow2
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xRow3
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow0
        i32.const 128
        i32.add
        local.set $xRow0
        local.get $xRow1
        i32.const 128
        i32.add
        local.set $xRow1
        local.get $xRow2
        i32.const 128
        i32.add
        local.set $xRow2
        local.get $xRow3
        i32.const 128
        i32.add
        local.set $xRow3
        local.get $qRow0
        i32.const 32
        i32.add
        local.set $qRow0
        local.get $scaleRow0
        i32.const 4
        i32.add
        local.set $scaleRow0
        local.get $block
        i32.const 1
        i32.add
        local.set $block
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    local.get $acc2
    f32x4.extract_lane 0
    local.get $acc2
    f32x4.extract_lane 1
    f32.add
    local.get $acc2
    f32x4.extract_lane 2
    local.get $acc2
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum2
    local.get $acc3
    f32x4.extract_lane 0
    local.get $acc3
    f32x4.extract_lane 1
    f32.add
    local.get $acc3
    f32x4.extract_lane 2
    local.get $acc3
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum3
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum1
    f32.store
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum2
    f32.store
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    local.get $outRow
    local.get $sum3
    f32.store)
  (func $q8_tile_1x4 (type $t6) (param $xp i32) (param $qp i32) (param $sp i32) (param $outp i32) (param $rowBytes i32) (param $qRowBytes i32) (param $sRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32)
    (local $block i32) (local $xRow0 i32) (local $qRow0 i32) (local $qRow1 i32) (local $qRow2 i32) (local $qRow3 i32) (local $scaleRow0 i32) (local $scaleRow1 i32) (local $scaleRow2 i32) (local $scaleRow3 i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $wVec0 v128) (local $wVec1 v128) (local $wVec2 v128) (local $wVec3 v128) (local $scaleVec0 v128) (local $scaleVec1 v128) (local $scaleVec2 v128) (local $scaleVec3 v128) (local $xVec v128) (local $sum0 f32) (local $sum1 f32) (local $sum2 f32) (local $sum3 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $qp
    local.set $qRow0
    local.get $qRow0
    local.get $qRowBytes
    i32.add
    local.set $qRow1
    local.get $qRow1
    local.get $qRowBytes
    i32.add
    local.set $qRow2
    local.get $qRow2
    local.get $qRowBytes
    i32.add
    local.set $qRow3
    local.get $sp
    local.set $scaleRow0
    local.get $scaleRow0
    local.get $sRowBytes
    i32.add
    local.set $scaleRow1
    local.get $scaleRow1
    local.get $sRowBytes
    i32.add
    local.set $scaleRow2
    local.get $scaleRow2
    local.get $sRowBytes
    i32.add
    local.set $scaleRow3
    block $B0
      loop $L1
        local.get $block
        local.get $numBlocks
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $scaleRow0
        v128.load32_splat align=1
        local.set $scaleVec0
        local.get $scaleRow1
        v128.load32_splat align=1
        local.set $scaleVec1
        local.get $scaleRow2
        v128.load32_splat align=1
        local.set $scaleVec2
        local.get $scaleRow3
        v128.load32_splat align=1
        local.set $scaleVec3
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $qRow1
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec1
        f32x4.mul
        local.set $wVec1
        local.get $qRow2
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec2
        f32x4.mul
        local.set $wVec2
        local.get $qRow3
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec3
        f32x4.mul
        local.set $wVec3
        local.get $xRow0
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xVec
        local.get $wVec1
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xVec
        local.get $wVec2
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $xVec
        local.get $wVec3
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xRow0
        i32.const 128
        i32.add
        local.set $xRow0
        local.get $qRow0
        i32.const 32
        i32.add
        local.set $qRow0
        local.get $qRow1
        i32.const 32
        i32.add
        local.set $qRow1
        local.get $qRow2
        i32.const 32
        i32.add
        local.set $qRow2
        local.get $qRow3
        i32.const 32
        i32.add
        local.set $qRow3
        local.get $scaleRow0
        i32.const 4
        i32.add
        local.set $scaleRow0
        local.get $scaleRow1
        i32.const 4
        i32.add
        local.set $scaleRow1
        local.get $scaleRow2
        i32.const 4
        i32.add
        local.set $scaleRow2
        local.get $scaleRow3
        i32.const 4
        i32.add
        local.set $scaleRow3
        local.get $block
        i32.const 1
        i32.add
        local.set $block
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $acc1
    f32x4.extract_lane 0
    local.get $acc1
    f32x4.extract_lane 1
    f32.add
    local.get $acc1
    f32x4.extract_lane 2
    local.get $acc1
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum1
    local.get $acc2
    f32x4.extract_lane 0
    local.get $acc2
    f32x4.extract_lane 1
    f32.add
    local.get $acc2
    f32x4.extract_lane 2
    local.get $acc2
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum2
    local.get $acc3
    f32x4.extract_lane 0
    local.get $acc3
    f32x4.extract_lane 1
    f32.add
    local.get $acc3
    f32x4.extract_lane 2
    local.get $acc3
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum3
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store
    local.get $outRow
    local.get $sum1
    f32.store offset=4
    local.get $outRow
    local.get $sum2
    f32.store offset=8
    local.get $outRow
    local.get $sum3
    f32.store offset=12)
  (func $q8_tile_1x1 (type $t7) (param $xp i32) (param $qp i32) (param $sp i32) (param $outp i32) (param $rowBytes i32) (param $qRowBytes i32) (param $sRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32)
    (local $block i32) (local $xRow0 i32) (local $qRow0 i32) (local $scaleRow0 i32) (local $acc0 v128) (local $wVec0 v128) (local $scaleVec0 v128) (local $xVec v128) (local $sum0 f32) (local $outRow i32)
    local.get $xp
    local.set $xRow0
    local.get $qp
    local.set $qRow0
    local.get $sp
    local.set $scaleRow0
    block $B0
      loop $L1
        local.get $block
        local.get $numBlocks
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $scaleRow0
        v128.load32_splat align=1
        local.set $scaleVec0
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=16 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=32 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=8 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=48 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=64 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=16 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=80 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_low_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=96 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $qRow0
        v128.load8x8_s offset=24 align=1
        i32x4.extend_high_i16x8_s
        f32x4.convert_i32x4_s
        local.get $scaleVec0
        f32x4.mul
        local.set $wVec0
        local.get $xRow0
        v128.load offset=112 align=1
        local.set $xVec
        local.get $xVec
        local.get $wVec0
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $xRow0
        i32.const 128
        i32.add
        local.set $xRow0
        local.get $qRow0
        i32.const 32
        i32.add
        local.set $qRow0
        local.get $scaleRow0
        i32.const 4
        i32.add
        local.set $scaleRow0
        local.get $block
        i32.const 1
        i32.add
        local.set $block
        br $L1
      end
    end
    local.get $acc0
    f32x4.extract_lane 0
    local.get $acc0
    f32x4.extract_lane 1
    f32.add
    local.get $acc0
    f32x4.extract_lane 2
    local.get $acc0
    f32x4.extract_lane 3
    f32.add
    f32.add
    local.set $sum0
    local.get $outp
    local.set $outRow
    local.get $outRow
    local.get $sum0
    f32.store)
  (func $matmul_f32 (export "matmul_f32") (type $t8) (param $out i32) (param $x i32) (param $w i32) (param $scales i32) (param $rows i32) (param $inDim i32) (param $outDim i32) (param $j0 i32) (param $j1 i32) (param $panel i32)
    (local $i i32) (local $j i32) (local $panelStart i32) (local $panelEnd i32)
    local.get $j0
    local.set $panelStart
    block $B0
      loop $L1
        local.get $panelStart
        local.get $j1
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        i32.lt_u
        select
        local.set $panelEnd
        i32.const 0
        local.set $i
        block $B2
          loop $L3
            local.get $i
            i32.const 2
            i32.add
            local.get $rows
            i32.le_u
            i32.eqz
            br_if $B2
            local.get $panelStart
            local.set $j
            block $B4
              loop $L5
                local.get $j
                i32.const 4
                i32.add
                local.get $panelEnd
                i32.le_u
                i32.eqz
                br_if $B4
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const -4
                i32.and
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 2
                i32.shl
                call $f32_tile_2x4
                local.get $j
                i32.const 4
                i32.add
                local.set $j
                br $L5
              end
            end
            block $B6
              loop $L7
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B6
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const -4
                i32.and
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 2
                i32.shl
                call $f32_tile_2x1
                local.get $j
                i32.const 1
                i32.add
                local.set $j
                br $L7
              end
            end
            local.get $i
            i32.const 2
            i32.add
            local.set $i
            br $L3
          end
        end
        block $B8
          loop $L9
            local.get $i
            local.get $rows
            i32.lt_u
            i32.eqz
            br_if $B8
            local.get $panelStart
            local.set $j
            block $B10
              loop $L11
                local.get $j
                i32.const 4
                i32.add
                local.get $panelEnd
                i32.le_u
                i32.eqz
                br_if $B10
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const -4
                i32.and
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 2
                i32.shl
                call $f32_tile_1x4
                local.get $j
                i32.const 4
                i32.add
                local.set $j
                br $L11
              end
            end
            block $B12
              loop $L13
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B12
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const -4
                i32.and
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 2
                i32.shl
                call $f32_tile_1x1
                local.get $j
                i32.const 1
                i32.add
                local.set $j
                br $L13
              end
            end
            local.get $i
            i32.const 1
            i32.add
            local.set $i
            br $L9
          end
        end
        local.get $panelStart
        local.get $panel
        i32.add
        local.set $panelStart
        br $L1
      end
    end)
  (func $matmul_q8 (export "matmul_q8") (type $t9) (param $out i32) (param $x i32) (param $w i32) (param $scales i32) (param $rows i32) (param $inDim i32) (param $outDim i32) (param $j0 i32) (param $j1 i32) (param $panel i32)
    (local $i i32) (local $j i32) (local $panelStart i32) (local $panelEnd i32)
    local.get $j0
    local.set $panelStart
    block $B0
      loop $L1
        local.get $panelStart
        local.get $j1
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        i32.lt_u
        select
        local.set $panelEnd
        i32.const 0
        local.set $i
        block $B2
          loop $L3
            local.get $i
            i32.const 4
            i32.add
            local.get $rows
            i32.le_u
            i32.eqz
            br_if $B2
            local.get $panelStart
            local.set $j
            block $B4
              loop $L5
                local.get $j
                i32.const 2
                i32.add
                local.get $panelEnd
                i32.le_u
                i32.eqz
                br_if $B4
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 0
                i32.shl
                i32.add
                local.get $scales
                local.get $j
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $inDim
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 5
                i32.shr_u
                call $q8_tile_4x2
                local.get $j
                i32.const 2
                i32.add
                local.set $j
                br $L5
              end
            end
            block $B6
              loop $L7
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B6
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 0
                i32.shl
                i32.add
                local.get $scales
                local.get $j
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $inDim
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 5
                i32.shr_u
                call $q8_tile_4x1
                local.get $j
                i32.const 1
                i32.add
                local.set $j
                br $L7
              end
            end
            local.get $i
            i32.const 4
            i32.add
            local.set $i
            br $L3
          end
        end
        block $B8
          loop $L9
            local.get $i
            local.get $rows
            i32.lt_u
            i32.eqz
            br_if $B8
            local.get $panelStart
            local.set $j
            block $B10
              loop $L11
                local.get $j
                i32.const 4
                i32.add
                local.get $panelEnd
                i32.le_u
                i32.eqz
                br_if $B10
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 0
                i32.shl
                i32.add
                local.get $scales
                local.get $j
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $inDim
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 5
                i32.shr_u
                call $q8_tile_1x4
                local.get $j
                i32.const 4
                i32.add
                local.set $j
                br $L11
              end
            end
            block $B12
              loop $L13
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B12
                local.get $x
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                local.get $inDim
                i32.mul
                i32.const 0
                i32.shl
                i32.add
                local.get $scales
                local.get $j
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $j
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 2
                i32.shl
                local.get $inDim
                local.get $inDim
                i32.const 5
                i32.shr_u
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $inDim
                i32.const 5
                i32.shr_u
                call $q8_tile_1x1
                local.get $j
                i32.const 1
                i32.add
                local.set $j
                br $L13
              end
            end
            local.get $i
            i32.const 1
            i32.add
            local.set $i
            br $L9
          end
        end
        local.get $panelStart
        local.get $panel
        i32.add
        local.set $panelStart
        br $L1
      end
    end)
  (func $attn_scores (export "attn_scores") (type $t10) (param $scores i32) (param $q i32) (param $kBase i32) (param $offsets i32) (param $seen i32) (param $group i32) (param $headDim i32) (param $scale f32)
    (local $t i32) (local $h i32) (local $d i32) (local $kRow i32) (local $qHead i32) (local $scoreOut i32) (local $headBytes i32) (local $sum0 v128) (local $sum1 v128) (local $unrolled i32)
    local.get $headDim
    i32.const 2
    i32.shl
    local.set $headBytes
    local.get $headBytes
    i32.const 127
    i32.and
    i32.eqz
    local.set $unrolled
    block $B0
      loop $L1
        local.get $t
        local.get $seen
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $kBase
        local.get $offsets
        local.get $t
        i32.const 2
        i32.shl
        i32.add
        i32.load
        i32.const 2
        i32.shl
        i32.add
        local.set $kRow
        local.get $q
        local.set $qHead
        local.get $scores
        local.get $t
        i32.const 2
        i32.shl
        i32.add
        local.set $scoreOut
        i32.const 0
        local.set $h
        block $B2
          loop $L3
            local.get $h
            local.get $group
            i32.lt_u
            i32.eqz
            br_if $B2
            v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
            local.set $sum0
            v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
            local.set $sum1
            i32.const 0
            local.set $d
            local.get $unrolled
            if $I4
              block $B5
                loop $L6
                  local.get $d
                  local.get $headBytes
                  i32.lt_u
                  i32.eqz
                  br_if $B5
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load align=1
                  f32x4.mul
                  local.get $sum0
                  f32x4.add
                  local.set $sum0
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  f32x4.mul
                  local.get $sum1
                  f32x4.add
                  local.set $sum1
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=32 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=32 align=1
                  f32x4.mul
                  local.get $sum0
                  f32x4.add
                  local.set $sum0
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=48 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=48 align=1
                  f32x4.mul
                  local.get $sum1
                  f32x4.add
                  local.set $sum1
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=64 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=64 align=1
                  f32x4.mul
                  local.get $sum0
                  f32x4.add
                  local.set $sum0
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=80 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=80 align=1
                  f32x4.mul
                  local.get $sum1
                  f32x4.add
                  local.set $sum1
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=96 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=96 align=1
                  f32x4.mul
                  local.get $sum0
                  f32x4.add
                  local.set $sum0
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=112 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=112 align=1
                  f32x4.mul
                  local.get $sum1
                  f32x4.add
                  local.set $sum1
                  local.get $d
                  i32.const 128
                  i32.add
                  local.set $d
                  br $L6
                end
              end
            else
              block $B7
                loop $L8
                  local.get $d
                  local.get $headBytes
                  i32.lt_u
                  i32.eqz
                  br_if $B7
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load align=1
                  f32x4.mul
                  local.get $sum0
                  f32x4.add
                  local.set $sum0
                  local.get $qHead
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  local.get $kRow
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  f32x4.mul
                  local.get $sum1
                  f32x4.add
                  local.set $sum1
                  local.get $d
                  i32.const 32
                  i32.add
                  local.set $d
                  br $L8
                end
              end
            end
            local.get $sum0
            local.get $sum1
            f32x4.add
            local.set $sum0
            local.get $scoreOut
            local.get $sum0
            f32x4.extract_lane 0
            local.get $sum0
            f32x4.extract_lane 1
            f32.add
            local.get $sum0
            f32x4.extract_lane 2
            local.get $sum0
            f32x4.extract_lane 3
            f32.add
            f32.add
            local.get $scale
            f32.mul
            f32.store
            local.get $scoreOut
            local.get $seen
            i32.const 2
            i32.shl
            i32.add
            local.set $scoreOut
            local.get $qHead
            local.get $headBytes
            i32.add
            local.set $qHead
            local.get $h
            i32.const 1
            i32.add
            local.set $h
            br $L3
          end
        end
        local.get $t
        i32.const 1
        i32.add
        local.set $t
        br $L1
      end
    end)
  (func $attn_values (export "attn_values") (type $t11) (param $out i32) (param $scores i32) (param $vBase i32) (param $offsets i32) (param $seen i32) (param $group i32) (param $headDim i32)
    (local $t i32) (local $h i32) (local $d i32) (local $vRow i32) (local $outHead i32) (local $score i32) (local $headBytes i32) (local $outBytes i32) (local $weight v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $acc4 v128) (local $acc5 v128) (local $acc6 v128) (local $acc7 v128) (local $offset i32) (local $offsetsEnd i32)
    local.get $headDim
    i32.const 2
    i32.shl
    local.set $headBytes
    local.get $headBytes
    local.get $group
    i32.mul
    local.set $outBytes
    local.get $headBytes
    i32.const 127
    i32.and
    i32.eqz
    if $I0
      local.get $offsets
      local.get $seen
      i32.const 2
      i32.shl
      i32.add
      local.set $offsetsEnd
      local.get $out
      local.set $outHead
      block $B1
        loop $L2
          local.get $h
          local.get $group
          i32.lt_u
          i32.eqz
          br_if $B1
          i32.const 0
          local.set $d
          block $B3
            loop $L4
              local.get $d
              local.get $headBytes
              i32.lt_u
              i32.eqz
              br_if $B3
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc0
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc1
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc2
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc3
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc4
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc5
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc6
              v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
              local.set $acc7
              local.get $scores
              local.get $h
              local.get $seen
              i32.mul
              i32.const 2
              i32.shl
              i32.add
              local.set $score
              local.get $offsets
              local.set $offset
              block $B5
                loop $L6
                  local.get $offset
                  local.get $offsetsEnd
                  i32.lt_u
                  i32.eqz
                  br_if $B5
                  local.get $vBase
                  local.get $offset
                  i32.load
                  i32.const 2
                  i32.shl
                  i32.add
                  local.get $d
                  i32.add
                  local.set $vRow
                  local.get $score
                  v128.load32_splat align=1
                  local.set $weight
                  local.get $acc0
                  local.get $weight
                  local.get $vRow
                  v128.load align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc0
                  local.get $acc1
                  local.get $weight
                  local.get $vRow
                  v128.load offset=16 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc1
                  local.get $acc2
                  local.get $weight
                  local.get $vRow
                  v128.load offset=32 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc2
                  local.get $acc3
                  local.get $weight
                  local.get $vRow
                  v128.load offset=48 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc3
                  local.get $acc4
                  local.get $weight
                  local.get $vRow
                  v128.load offset=64 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc4
                  local.get $acc5
                  local.get $weight
                  local.get $vRow
                  v128.load offset=80 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc5
                  local.get $acc6
                  local.get $weight
                  local.get $vRow
                  v128.load offset=96 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc6
                  local.get $acc7
                  local.get $weight
                  local.get $vRow
                  v128.load offset=112 align=1
                  f32x4.mul
                  f32x4.add
                  local.set $acc7
                  local.get $score
                  i32.const 4
                  i32.add
                  local.set $score
                  local.get $offset
                  i32.const 4
                  i32.add
                  local.set $offset
                  br $L6
                end
              end
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc0
              v128.store align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc1
              v128.store offset=16 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc2
              v128.store offset=32 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc3
              v128.store offset=48 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc4
              v128.store offset=64 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc5
              v128.store offset=80 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc6
              v128.store offset=96 align=1
              local.get $outHead
              local.get $d
              i32.add
              local.get $acc7
              v128.store offset=112 align=1
              local.get $d
              i32.const 128
              i32.add
              local.set $d
              br $L4
            end
          end
          local.get $outHead
          local.get $headBytes
          i32.add
          local.set $outHead
          local.get $h
          i32.const 1
          i32.add
          local.set $h
          br $L2
        end
      end
    else
      i32.const 0
      local.set $d
      block $B7
        loop $L8
          local.get $d
          local.get $outBytes
          i32.lt_u
          i32.eqz
          br_if $B7
          local.get $out
          local.get $d
          i32.add
          v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
          v128.store align=1
          local.get $d
          i32.const 16
          i32.add
          local.set $d
          br $L8
        end
      end
      block $B9
        loop $L10
          local.get $t
          local.get $seen
          i32.lt_u
          i32.eqz
          br_if $B9
          local.get $vBase
          local.get $offsets
          local.get $t
          i32.const 2
          i32.shl
          i32.add
          i32.load
          i32.const 2
          i32.shl
          i32.add
          local.set $vRow
          local.get $out
          local.set $outHead
          local.get $scores
          local.get $t
          i32.const 2
          i32.shl
          i32.add
          local.set $score
          i32.const 0
          local.set $h
          block $B11
            loop $L12
              local.get $h
              local.get $group
              i32.lt_u
              i32.eqz
              br_if $B11
              local.get $score
              v128.load32_splat align=1
              local.set $weight
              i32.const 0
              local.set $d
              block $B13
                loop $L14
                  local.get $d
                  local.get $headBytes
                  i32.lt_u
                  i32.eqz
                  br_if $B13
                  local.get $outHead
                  local.get $d
                  i32.add
                  local.get $outHead
                  local.get $d
                  i32.add
                  v128.load align=1
                  local.get $weight
                  local.get $vRow
                  local.get $d
                  i32.add
                  v128.load align=1
                  f32x4.mul
                  f32x4.add
                  v128.store align=1
                  local.get $outHead
                  local.get $d
                  i32.add
                  local.get $outHead
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  local.get $weight
                  local.get $vRow
                  local.get $d
                  i32.add
                  v128.load offset=16 align=1
                  f32x4.mul
                  f32x4.add
                  v128.store offset=16 align=1
                  local.get $d
                  i32.const 32
                  i32.add
                  local.set $d
                  br $L14
                end
              end
              local.get $outHead
              local.get $headBytes
              i32.add
              local.set $outHead
              local.get $score
              local.get $seen
              i32.const 2
              i32.shl
              i32.add
              local.set $score
              local.get $h
              i32.const 1
              i32.add
              local.set $h
              br $L12
            end
          end
          local.get $t
          i32.const 1
          i32.add
          local.set $t
          br $L10
        end
      end
    end)
  (func $q8_int_tile_2x8 (type $t12) (param $xp i32) (param $xsp i32) (param $wp i32) (param $outp i32) (param $xRowBytes i32) (param $xsRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32) (param $cols i32)
    (local $wEnd i32) (local $passEnd i32) (local $xRow0 i32) (local $xRow1 i32) (local $xsRow0 i32) (local $xsRow1 i32) (local $wpGroup1 i32) (local $isum0 v128) (local $isum1 v128) (local $isum2 v128) (local $isum3 v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $w0 v128) (local $w1 v128) (local $xPair v128) (local $wScales v128) (local $xScale0 v128) (local $xScale1 v128) (local $f16Factor v128) (local $outRow i32)
    f32.const 0x1p+112 (;=5.1923e+33;)
    f32x4.splat
    local.set $f16Factor
    local.get $wp
    i32.const 136
    i32.add
    local.set $wpGroup1
    local.get $xp
    local.set $xRow0
    local.get $xRow0
    local.get $xRowBytes
    i32.add
    local.set $xRow1
    local.get $xsp
    local.set $xsRow0
    local.get $xsRow0
    local.get $xsRowBytes
    i32.add
    local.set $xsRow1
    local.get $wp
    local.get $numBlocks
    i32.const 272
    i32.mul
    i32.add
    local.set $wEnd
    block $B0
      loop $L1
        local.get $wp
        local.get $wEnd
        i32.lt_u
        i32.eqz
        br_if $B0
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum0
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum1
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum2
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum3
        local.get $wp
        i32.const 128
        i32.add
        local.set $passEnd
        block $B2
          loop $L3
            local.get $wp
            local.get $passEnd
            i32.lt_u
            i32.eqz
            br_if $B2
            local.get $wp
            v128.load8x8_s align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $xRow1
            v128.load32_splat align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum2
            i32x4.add
            local.set $isum2
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum3
            i32x4.add
            local.set $isum3
            local.get $wp
            v128.load8x8_s offset=8 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=8 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=4 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $xRow1
            v128.load32_splat offset=4 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum2
            i32x4.add
            local.set $isum2
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum3
            i32x4.add
            local.set $isum3
            local.get $wp
            v128.load8x8_s offset=16 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=16 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=8 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $xRow1
            v128.load32_splat offset=8 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum2
            i32x4.add
            local.set $isum2
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum3
            i32x4.add
            local.set $isum3
            local.get $wp
            v128.load8x8_s offset=24 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=24 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=12 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $xRow1
            v128.load32_splat offset=12 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum2
            i32x4.add
            local.set $isum2
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum3
            i32x4.add
            local.set $isum3
            local.get $xRow0
            i32.const 16
            i32.add
            local.set $xRow0
            local.get $xRow1
            i32.const 16
            i32.add
            local.set $xRow1
            local.get $wp
            i32.const 32
            i32.add
            local.set $wp
            local.get $wpGroup1
            i32.const 32
            i32.add
            local.set $wpGroup1
            br $L3
          end
        end
        local.get $xsRow0
        f32.load
        f32x4.splat
        local.set $xScale0
        local.get $xsRow1
        f32.load
        f32x4.splat
        local.set $xScale1
        local.get $wp
        v128.load16x4_u align=2
        i32.const 13
        i32x4.shl
        local.get $f16Factor
        f32x4.mul
        local.set $wScales
        local.get $isum0
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale0
        f32x4.mul
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $isum2
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale1
        f32x4.mul
        f32x4.mul
        local.get $acc2
        f32x4.add
        local.set $acc2
        local.get $wpGroup1
        v128.load16x4_u align=2
        i32.const 13
        i32x4.shl
        local.get $f16Factor
        f32x4.mul
        local.set $wScales
        local.get $isum1
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale0
        f32x4.mul
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $isum3
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale1
        f32x4.mul
        f32x4.mul
        local.get $acc3
        f32x4.add
        local.set $acc3
        local.get $xsRow0
        i32.const 4
        i32.add
        local.set $xsRow0
        local.get $xsRow1
        i32.const 4
        i32.add
        local.set $xsRow1
        local.get $wp
        i32.const 144
        i32.add
        local.set $wp
        local.get $wpGroup1
        i32.const 144
        i32.add
        local.set $wpGroup1
        br $L1
      end
    end
    local.get $outp
    local.set $outRow
    block $B4
      local.get $cols
      i32.const 0
      i32.le_u
      br_if $B4
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 0
      f32.store
    end
    block $B5
      local.get $cols
      i32.const 1
      i32.le_u
      br_if $B5
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 1
      f32.store offset=4
    end
    block $B6
      local.get $cols
      i32.const 2
      i32.le_u
      br_if $B6
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 2
      f32.store offset=8
    end
    block $B7
      local.get $cols
      i32.const 3
      i32.le_u
      br_if $B7
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 3
      f32.store offset=12
    end
    block $B8
      local.get $cols
      i32.const 4
      i32.le_u
      br_if $B8
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 0
      f32.store offset=16
    end
    block $B9
      local.get $cols
      i32.const 5
      i32.le_u
      br_if $B9
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 1
      f32.store offset=20
    end
    block $B10
      local.get $cols
      i32.const 6
      i32.le_u
      br_if $B10
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 2
      f32.store offset=24
    end
    block $B11
      local.get $cols
      i32.const 7
      i32.le_u
      br_if $B11
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 3
      f32.store offset=28
    end
    local.get $outRow
    local.get $outRowBytes
    i32.add
    local.set $outRow
    block $B12
      local.get $cols
      i32.const 0
      i32.le_u
      br_if $B12
      local.get $outRow
      local.get $acc2
      f32x4.extract_lane 0
      f32.store
    end
    block $B13
      local.get $cols
      i32.const 1
      i32.le_u
      br_if $B13
      local.get $outRow
      local.get $acc2
      f32x4.extract_lane 1
      f32.store offset=4
    end
    block $B14
      local.get $cols
      i32.const 2
      i32.le_u
      br_if $B14
      local.get $outRow
      local.get $acc2
      f32x4.extract_lane 2
      f32.store offset=8
    end
    block $B15
      local.get $cols
      i32.const 3
      i32.le_u
      br_if $B15
      local.get $outRow
      local.get $acc2
      f32x4.extract_lane 3
      f32.store offset=12
    end
    block $B16
      local.get $cols
      i32.const 4
      i32.le_u
      br_if $B16
      local.get $outRow
      local.get $acc3
      f32x4.extract_lane 0
      f32.store offset=16
    end
    block $B17
      local.get $cols
      i32.const 5
      i32.le_u
      br_if $B17
      local.get $outRow
      local.get $acc3
      f32x4.extract_lane 1
      f32.store offset=20
    end
    block $B18
      local.get $cols
      i32.const 6
      i32.le_u
      br_if $B18
      local.get $outRow
      local.get $acc3
      f32x4.extract_lane 2
      f32.store offset=24
    end
    block $B19
      local.get $cols
      i32.const 7
      i32.le_u
      br_if $B19
      local.get $outRow
      local.get $acc3
      f32x4.extract_lane 3
      f32.store offset=28
    end)
  (func $q8_int_tile_1x8 (type $t13) (param $xp i32) (param $xsp i32) (param $wp i32) (param $outp i32) (param $xRowBytes i32) (param $xsRowBytes i32) (param $outRowBytes i32) (param $numBlocks i32) (param $cols i32)
    (local $wEnd i32) (local $passEnd i32) (local $xRow0 i32) (local $xsRow0 i32) (local $wpGroup1 i32) (local $isum0 v128) (local $isum1 v128) (local $acc0 v128) (local $acc1 v128) (local $w0 v128) (local $w1 v128) (local $xPair v128) (local $wScales v128) (local $xScale0 v128) (local $f16Factor v128) (local $outRow i32)
    f32.const 0x1p+112 (;=5.1923e+33;)
    f32x4.splat
    local.set $f16Factor
    local.get $wp
    i32.const 136
    i32.add
    local.set $wpGroup1
    local.get $xp
    local.set $xRow0
    local.get $xsp
    local.set $xsRow0
    local.get $wp
    local.get $numBlocks
    i32.const 272
    i32.mul
    i32.add
    local.set $wEnd
    block $B0
      loop $L1
        local.get $wp
        local.get $wEnd
        i32.lt_u
        i32.eqz
        br_if $B0
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum0
        v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
        local.set $isum1
        local.get $wp
        i32.const 128
        i32.add
        local.set $passEnd
        block $B2
          loop $L3
            local.get $wp
            local.get $passEnd
            i32.lt_u
            i32.eqz
            br_if $B2
            local.get $wp
            v128.load8x8_s align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $wp
            v128.load8x8_s offset=8 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=8 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=4 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $wp
            v128.load8x8_s offset=16 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=16 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=8 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $wp
            v128.load8x8_s offset=24 align=1
            local.set $w0
            local.get $wpGroup1
            v128.load8x8_s offset=24 align=1
            local.set $w1
            local.get $xRow0
            v128.load32_splat offset=12 align=1
            local.set $xPair
            local.get $w0
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum0
            i32x4.add
            local.set $isum0
            local.get $w1
            local.get $xPair
            i32x4.dot_i16x8_s
            local.get $isum1
            i32x4.add
            local.set $isum1
            local.get $xRow0
            i32.const 16
            i32.add
            local.set $xRow0
            local.get $wp
            i32.const 32
            i32.add
            local.set $wp
            local.get $wpGroup1
            i32.const 32
            i32.add
            local.set $wpGroup1
            br $L3
          end
        end
        local.get $xsRow0
        f32.load
        f32x4.splat
        local.set $xScale0
        local.get $wp
        v128.load16x4_u align=2
        i32.const 13
        i32x4.shl
        local.get $f16Factor
        f32x4.mul
        local.set $wScales
        local.get $isum0
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale0
        f32x4.mul
        f32x4.mul
        local.get $acc0
        f32x4.add
        local.set $acc0
        local.get $wpGroup1
        v128.load16x4_u align=2
        i32.const 13
        i32x4.shl
        local.get $f16Factor
        f32x4.mul
        local.set $wScales
        local.get $isum1
        f32x4.convert_i32x4_s
        local.get $wScales
        local.get $xScale0
        f32x4.mul
        f32x4.mul
        local.get $acc1
        f32x4.add
        local.set $acc1
        local.get $xsRow0
        i32.const 4
        i32.add
        local.set $xsRow0
        local.get $wp
        i32.const 144
        i32.add
        local.set $wp
        local.get $wpGroup1
        i32.const 144
        i32.add
        local.set $wpGroup1
        br $L1
      end
    end
    local.get $outp
    local.set $outRow
    block $B4
      local.get $cols
      i32.const 0
      i32.le_u
      br_if $B4
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 0
      f32.store
    end
    block $B5
      local.get $cols
      i32.const 1
      i32.le_u
      br_if $B5
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 1
      f32.store offset=4
    end
    block $B6
      local.get $cols
      i32.const 2
      i32.le_u
      br_if $B6
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 2
      f32.store offset=8
    end
    block $B7
      local.get $cols
      i32.const 3
      i32.le_u
      br_if $B7
      local.get $outRow
      local.get $acc0
      f32x4.extract_lane 3
      f32.store offset=12
    end
    block $B8
      local.get $cols
      i32.const 4
      i32.le_u
      br_if $B8
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 0
      f32.store offset=16
    end
    block $B9
      local.get $cols
      i32.const 5
      i32.le_u
      br_if $B9
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 1
      f32.store offset=20
    end
    block $B10
      local.get $cols
      i32.const 6
      i32.le_u
      br_if $B10
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 2
      f32.store offset=24
    end
    block $B11
      local.get $cols
      i32.const 7
      i32.le_u
      br_if $B11
      local.get $outRow
      local.get $acc1
      f32x4.extract_lane 3
      f32.store offset=28
    end)
  (func $matmul_q8_int (export "matmul_q8_int") (type $t14) (param $out i32) (param $xq i32) (param $w i32) (param $scales i32) (param $rows i32) (param $inDim i32) (param $outDim i32) (param $j0 i32) (param $j1 i32) (param $panel i32)
    (local $i i32) (local $j i32) (local $panelStart i32) (local $panelEnd i32) (local $blocks i32) (local $xScales i32)
    local.get $inDim
    i32.const 5
    i32.shr_u
    local.set $blocks
    local.get $xq
    local.get $rows
    local.get $inDim
    i32.mul
    i32.const 1
    i32.shl
    i32.add
    local.set $xScales
    local.get $j0
    local.set $panelStart
    block $B0
      loop $L1
        local.get $panelStart
        local.get $j1
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        local.get $panelStart
        local.get $panel
        i32.add
        local.get $j1
        i32.lt_u
        select
        local.set $panelEnd
        i32.const 0
        local.set $i
        block $B2
          loop $L3
            local.get $i
            i32.const 2
            i32.add
            local.get $rows
            i32.le_u
            i32.eqz
            br_if $B2
            local.get $panelStart
            local.set $j
            block $B4
              loop $L5
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B4
                local.get $xq
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 1
                i32.shl
                i32.add
                local.get $xScales
                local.get $i
                local.get $blocks
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                i32.const 3
                i32.shr_u
                local.get $blocks
                i32.mul
                i32.const 272
                i32.mul
                i32.add
                local.get $j
                i32.const 2
                i32.shr_u
                i32.const 1
                i32.and
                i32.const 136
                i32.mul
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                local.get $j
                i32.add
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 1
                i32.shl
                local.get $blocks
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $blocks
                i32.const 8
                local.get $outDim
                local.get $j
                i32.sub
                local.get $outDim
                local.get $j
                i32.sub
                i32.const 8
                i32.gt_u
                select
                call $q8_int_tile_2x8
                local.get $j
                i32.const 8
                i32.add
                local.set $j
                br $L5
              end
            end
            local.get $i
            i32.const 2
            i32.add
            local.set $i
            br $L3
          end
        end
        block $B6
          loop $L7
            local.get $i
            i32.const 1
            i32.add
            local.get $rows
            i32.le_u
            i32.eqz
            br_if $B6
            local.get $panelStart
            local.set $j
            block $B8
              loop $L9
                local.get $j
                local.get $panelEnd
                i32.lt_u
                i32.eqz
                br_if $B8
                local.get $xq
                local.get $i
                local.get $inDim
                i32.mul
                i32.const 1
                i32.shl
                i32.add
                local.get $xScales
                local.get $i
                local.get $blocks
                i32.mul
                i32.const 2
                i32.shl
                i32.add
                local.get $w
                local.get $j
                i32.const 3
                i32.shr_u
                local.get $blocks
                i32.mul
                i32.const 272
                i32.mul
                i32.add
                local.get $j
                i32.const 2
                i32.shr_u
                i32.const 1
                i32.and
                i32.const 136
                i32.mul
                i32.add
                local.get $out
                local.get $i
                local.get $outDim
                i32.mul
                local.get $j
                i32.add
                i32.const 2
                i32.shl
                i32.add
                local.get $inDim
                i32.const 1
                i32.shl
                local.get $blocks
                i32.const 2
                i32.shl
                local.get $outDim
                i32.const 2
                i32.shl
                local.get $blocks
                i32.const 8
                local.get $outDim
                local.get $j
                i32.sub
                local.get $outDim
                local.get $j
                i32.sub
                i32.const 8
                i32.gt_u
                select
                call $q8_int_tile_1x8
                local.get $j
                i32.const 8
                i32.add
                local.set $j
                br $L9
              end
            end
            local.get $i
            i32.const 1
            i32.add
            local.set $i
            br $L7
          end
        end
        local.get $panelStart
        local.get $panel
        i32.add
        local.set $panelStart
        br $L1
      end
    end)
  (func $quantize_q8_act (export "quantize_q8_act") (type $t15) (param $xq i32) (param $x i32) (param $rows i32) (param $inDim i32)
    (local $scalePtr i32) (local $end i32) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128) (local $maxVec v128) (local $maxAbs f32) (local $scale f32) (local $invVec v128)
    local.get $rows
    local.get $inDim
    i32.mul
    local.set $end
    local.get $xq
    local.get $end
    i32.const 1
    i32.shl
    i32.add
    local.set $scalePtr
    local.get $x
    local.get $end
    i32.const 2
    i32.shl
    i32.add
    local.set $end
    block $B0
      loop $L1
        local.get $x
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $x
        v128.load align=1
        local.set $v0
        local.get $x
        v128.load offset=16 align=1
        local.set $v1
        local.get $x
        v128.load offset=32 align=1
        local.set $v2
        local.get $x
        v128.load offset=48 align=1
        local.set $v3
        local.get $x
        v128.load offset=64 align=1
        local.set $v4
        local.get $x
        v128.load offset=80 align=1
        local.set $v5
        local.get $x
        v128.load offset=96 align=1
        local.set $v6
        local.get $x
        v128.load offset=112 align=1
        local.set $v7
        local.get $v0
        f32x4.abs
        local.set $maxVec
        local.get $maxVec
        local.get $v1
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v2
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v3
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v4
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v5
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v6
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        local.get $v7
        f32x4.abs
        f32x4.max
        local.set $maxVec
        local.get $maxVec
        f32x4.extract_lane 0
        local.get $maxVec
        f32x4.extract_lane 1
        f32.max
        local.get $maxVec
        f32x4.extract_lane 2
        local.get $maxVec
        f32x4.extract_lane 3
        f32.max
        f32.max
        local.set $maxAbs
        local.get $maxAbs
        f32.const 0x1.fcp+6 (;=127;)
        f32.div
        local.set $scale
        local.get $scalePtr
        local.get $scale
        f32.store
        f32.const 0x0p+0 (;=0;)
        f32.const 0x1p+0 (;=1;)
        local.get $scale
        f32.div
        local.get $scale
        f32.const 0x0p+0 (;=0;)
        f32.eq
        select
        f32x4.splat
        local.set $invVec
        local.get $xq
        local.get $v0
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        local.get $v1
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        i16x8.narrow_i32x4_s
        v128.store align=1
        local.get $xq
        local.get $v2
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        local.get $v3
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        i16x8.narrow_i32x4_s
        v128.store offset=16 align=1
        local.get $xq
        local.get $v4
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        local.get $v5
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        i16x8.narrow_i32x4_s
        v128.store offset=32 align=1
        local.get $xq
        local.get $v6
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        local.get $v7
        local.get $invVec
        f32x4.mul
        f32x4.nearest
        i32x4.trunc_sat_f32x4_s
        i16x8.narrow_i32x4_s
        v128.store offset=48 align=1
        local.get $x
        i32.const 128
        i32.add
        local.set $x
        local.get $xq
        i32.const 64
        i32.add
        local.set $xq
        local.get $scalePtr
        i32.const 4
        i32.add
        local.set $scalePtr
        br $L1
      end
    end)
  (func $exp_f64 (export "exp_f64") (type $t16) (param $x f64) (result f64)
    (local $hx i32) (local $xsb i32) (local $k i32) (local $hi f64) (local $lo f64) (local $t f64) (local $c f64) (local $y f64) (local $twopk f64)
    block $B0 (result f64)
      i32.const 0
      local.set $k
      local.get $x
      i64.reinterpret_f64
      i64.const 32
      i64.shr_u
      i32.wrap_i64
      local.set $hx
      local.get $hx
      i32.const 31
      i32.shr_u
      local.set $xsb
      local.get $hx
      i32.const 2147483647
      i32.and
      local.set $hx
      local.get $hx
      i32.const 1082535490
      i32.ge_u
      if $I1
        local.get $hx
        i32.const 2146435072
        i32.ge_u
        if $I2
          local.get $x
          local.get $x
          f64.ne
          if $I3
            local.get $x
            local.get $x
            f64.add
            br $B0
          end
          local.get $x
          f64.const 0x0p+0 (;=0;)
          local.get $xsb
          i32.eqz
          select
          br $B0
        end
        local.get $x
        f64.const 0x1.62e42fefa39efp+9 (;=709.783;)
        f64.gt
        if $I4
          f64.const inf (;=inf;)
          br $B0
        end
        local.get $x
        f64.const -0x1.74910d52d3051p+9 (;=-745.133;)
        f64.lt
        if $I5
          f64.const 0x0p+0 (;=0;)
          br $B0
        end
      end
      local.get $hx
      i32.const 1071001154
      i32.gt_u
      if $I6
        local.get $hx
        i32.const 1072734898
        i32.lt_u
        if $I7
          local.get $x
          f64.const 0x1p+0 (;=1;)
          f64.eq
          if $I8
            f64.const 0x1.5bf0a8b145769p+1 (;=2.71828;)
            br $B0
          end
          local.get $x
          f64.const -0x1.62e42feep-1 (;=-0.693147;)
          f64.const 0x1.62e42feep-1 (;=0.693147;)
          local.get $xsb
          select
          f64.sub
          local.set $hi
          f64.const -0x1.a39ef35793c76p-33 (;=-1.90821e-10;)
          f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
          local.get $xsb
          select
          local.set $lo
          i32.const 1
          local.get $xsb
          i32.sub
          local.get $xsb
          i32.sub
          local.set $k
        else
          f64.const 0x1.71547652b82fep+0 (;=1.4427;)
          local.get $x
          f64.mul
          f64.const -0x1p-1 (;=-0.5;)
          f64.const 0x1p-1 (;=0.5;)
          local.get $xsb
          select
          f64.add
          i32.trunc_f64_s
          local.set $k
          local.get $k
          f64.convert_i32_s
          local.set $t
          local.get $x
          local.get $t
          f64.const 0x1.62e42feep-1 (;=0.693147;)
          f64.mul
          f64.sub
          local.set $hi
          local.get $t
          f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
          f64.mul
          local.set $lo
        end
        local.get $hi
        local.get $lo
        f64.sub
        local.set $x
      else
        local.get $hx
        i32.const 1043333120
        i32.lt_u
        if $I9
          f64.const 0x1p+0 (;=1;)
          local.get $x
          f64.add
          br $B0
        end
      end
      local.get $x
      local.get $x
      f64.mul
      local.set $t
      local.get $k
      i32.const -1021
      i32.ge_s
      if $I10
        i32.const 1072693248
        local.get $k
        i32.const 20
        i32.shl
        i32.add
        i64.extend_i32_u
        i64.const 32
        i64.shl
        f64.reinterpret_i64
        local.set $twopk
      else
        i32.const 1072693248
        local.get $k
        i32.const 1000
        i32.add
        i32.const 20
        i32.shl
        i32.add
        i64.extend_i32_u
        i64.const 32
        i64.shl
        f64.reinterpret_i64
        local.set $twopk
      end
      local.get $x
      local.get $t
      f64.const 0x1.555555555553ep-3 (;=0.166667;)
      local.get $t
      f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
      local.get $t
      f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
      local.get $t
      f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
      local.get $t
      f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
      f64.mul
      f64.add
      f64.mul
      f64.add
      f64.mul
      f64.add
      f64.mul
      f64.add
      f64.mul
      f64.sub
      local.set $c
      local.get $k
      i32.eqz
      if $I11
        f64.const 0x1p+0 (;=1;)
        local.get $x
        local.get $c
        f64.mul
        local.get $c
        f64.const 0x1p+1 (;=2;)
        f64.sub
        f64.div
        local.get $x
        f64.sub
        f64.sub
        br $B0
      end
      f64.const 0x1p+0 (;=1;)
      local.get $lo
      local.get $x
      local.get $c
      f64.mul
      f64.const 0x1p+1 (;=2;)
      local.get $c
      f64.sub
      f64.div
      f64.sub
      local.get $hi
      f64.sub
      f64.sub
      local.set $y
      local.get $k
      i32.const -1021
      i32.ge_s
      if $I12
        local.get $k
        i32.const 1024
        i32.eq
        if $I13
          local.get $y
          f64.const 0x1p+1 (;=2;)
          f64.mul
          f64.const 0x1p+1023 (;=8.98847e+307;)
          f64.mul
          br $B0
        end
        local.get $y
        local.get $twopk
        f64.mul
        br $B0
      end
      local.get $y
      local.get $twopk
      f64.mul
      f64.const 0x1p-1000 (;=9.33264e-302;)
      f64.mul
    end)
  (func $exp_f64_pairs (export "exp_f64_pairs") (type $t17) (param $out i32) (param $x i32) (param $n i32)
    (local $end i32) (local $xs f64) (local $xv v128) (local $ax v128) (local $hx i32) (local $xsb i32) (local $k i32) (local $hi f64) (local $lo f64) (local $t f64) (local $c f64) (local $y f64) (local $twopk f64) (local $neg v128) (local $mid v128) (local $kf v128) (local $hi2 v128) (local $lo2 v128) (local $xr v128) (local $t2 v128) (local $c2 v128)
    local.get $x
    local.get $n
    i32.const 3
    i32.shl
    i32.add
    local.set $end
    block $B0
      loop $L1
        local.get $x
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $x
        i32.const 16
        i32.add
        local.get $end
        i32.le_u
        if $I2
          local.get $x
          v128.load align=1
          local.set $xv
          local.get $xv
          f64x2.abs
          local.set $ax
          local.get $ax
          f64.const 0x1.62p+9 (;=708;)
          f64x2.splat
          f64x2.lt
          local.get $ax
          f64.const 0x1p-28 (;=3.72529e-09;)
          f64x2.splat
          f64x2.ge
          v128.and
          local.get $xv
          f64.const 0x1p+0 (;=1;)
          f64x2.splat
          f64x2.ne
          v128.and
          i64x2.all_true
          if $I3
            local.get $out
            local.get $xv
            f64.const 0x0p+0 (;=0;)
            f64x2.splat
            f64x2.lt
            local.set $neg
            local.get $ax
            f64.const 0x1.62e43p-2 (;=0.346574;)
            f64x2.splat
            f64x2.ge
            local.set $mid
            f64.const -0x1p+0 (;=-1;)
            f64x2.splat
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $neg
            v128.bitselect
            f64.const 0x1.71547652b82fep+0 (;=1.4427;)
            f64x2.splat
            local.get $xv
            f64x2.mul
            f64.const -0x1p-1 (;=-0.5;)
            f64x2.splat
            f64.const 0x1p-1 (;=0.5;)
            f64x2.splat
            local.get $neg
            v128.bitselect
            f64x2.add
            f64x2.trunc
            local.get $ax
            f64.const 0x1.0a2b2p+0 (;=1.03972;)
            f64x2.splat
            f64x2.lt
            v128.bitselect
            local.set $kf
            local.get $xv
            local.get $kf
            f64.const 0x1.62e42feep-1 (;=0.693147;)
            f64x2.splat
            f64x2.mul
            f64x2.sub
            local.set $hi2
            local.get $kf
            f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
            f64x2.splat
            f64x2.mul
            local.set $lo2
            local.get $hi2
            local.get $lo2
            f64x2.sub
            local.get $xv
            local.get $mid
            v128.bitselect
            local.set $xr
            local.get $xr
            local.get $xr
            f64x2.mul
            local.set $t2
            local.get $xr
            local.get $t2
            f64.const 0x1.555555555553ep-3 (;=0.166667;)
            f64x2.splat
            local.get $t2
            f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
            f64x2.splat
            local.get $t2
            f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
            f64x2.splat
            local.get $t2
            f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
            f64x2.splat
            local.get $t2
            f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
            f64x2.splat
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.sub
            local.set $c2
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $lo2
            local.get $xr
            local.get $c2
            f64x2.mul
            f64.const 0x1p+1 (;=2;)
            f64x2.splat
            local.get $c2
            f64x2.sub
            f64x2.div
            f64x2.sub
            local.get $hi2
            f64x2.sub
            f64x2.sub
            local.get $kf
            i32x4.trunc_sat_f64x2_s_zero
            i64x2.extend_low_i32x4_s
            i64.const 1023
            i64x2.splat
            i64x2.add
            i32.const 52
            i64x2.shl
            f64x2.mul
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $xr
            local.get $c2
            f64x2.mul
            local.get $c2
            f64.const 0x1p+1 (;=2;)
            f64x2.splat
            f64x2.sub
            f64x2.div
            local.get $xr
            f64x2.sub
            f64x2.sub
            local.get $mid
            v128.bitselect
            v128.store align=1
            local.get $x
            i32.const 16
            i32.add
            local.set $x
            local.get $out
            i32.const 16
            i32.add
            local.set $out
            br $L1
          end
        end
        local.get $x
        f64.load
        local.set $xs
        local.get $out
        block $B4 (result f64)
          i32.const 0
          local.set $k
          local.get $xs
          i64.reinterpret_f64
          i64.const 32
          i64.shr_u
          i32.wrap_i64
          local.set $hx
          local.get $hx
          i32.const 31
          i32.shr_u
          local.set $xsb
          local.get $hx
          i32.const 2147483647
          i32.and
          local.set $hx
          local.get $hx
          i32.const 1082535490
          i32.ge_u
          if $I5
            local.get $hx
            i32.const 2146435072
            i32.ge_u
            if $I6
              local.get $xs
              local.get $xs
              f64.ne
              if $I7
                local.get $xs
                local.get $xs
                f64.add
                br $B4
              end
              local.get $xs
              f64.const 0x0p+0 (;=0;)
              local.get $xsb
              i32.eqz
              select
              br $B4
            end
            local.get $xs
            f64.const 0x1.62e42fefa39efp+9 (;=709.783;)
            f64.gt
            if $I8
              f64.const inf (;=inf;)
              br $B4
            end
            local.get $xs
            f64.const -0x1.74910d52d3051p+9 (;=-745.133;)
            f64.lt
            if $I9
              f64.const 0x0p+0 (;=0;)
              br $B4
            end
          end
          local.get $hx
          i32.const 1071001154
          i32.gt_u
          if $I10
            local.get $hx
            i32.const 1072734898
            i32.lt_u
            if $I11
              local.get $xs
              f64.const 0x1p+0 (;=1;)
              f64.eq
              if $I12
                f64.const 0x1.5bf0a8b145769p+1 (;=2.71828;)
                br $B4
              end
              local.get $xs
              f64.const -0x1.62e42feep-1 (;=-0.693147;)
              f64.const 0x1.62e42feep-1 (;=0.693147;)
              local.get $xsb
              select
              f64.sub
              local.set $hi
              f64.const -0x1.a39ef35793c76p-33 (;=-1.90821e-10;)
              f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
              local.get $xsb
              select
              local.set $lo
              i32.const 1
              local.get $xsb
              i32.sub
              local.get $xsb
              i32.sub
              local.set $k
            else
              f64.const 0x1.71547652b82fep+0 (;=1.4427;)
              local.get $xs
              f64.mul
              f64.const -0x1p-1 (;=-0.5;)
              f64.const 0x1p-1 (;=0.5;)
              local.get $xsb
              select
              f64.add
              i32.trunc_f64_s
              local.set $k
              local.get $k
              f64.convert_i32_s
              local.set $t
              local.get $xs
              local.get $t
              f64.const 0x1.62e42feep-1 (;=0.693147;)
              f64.mul
              f64.sub
              local.set $hi
              local.get $t
              f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
              f64.mul
              local.set $lo
            end
            local.get $hi
            local.get $lo
            f64.sub
            local.set $xs
          else
            local.get $hx
            i32.const 1043333120
            i32.lt_u
            if $I13
              f64.const 0x1p+0 (;=1;)
              local.get $xs
              f64.add
              br $B4
            end
          end
          local.get $xs
          local.get $xs
          f64.mul
          local.set $t
          local.get $k
          i32.const -1021
          i32.ge_s
          if $I14
            i32.const 1072693248
            local.get $k
            i32.const 20
            i32.shl
            i32.add
            i64.extend_i32_u
            i64.const 32
            i64.shl
            f64.reinterpret_i64
            local.set $twopk
          else
            i32.const 1072693248
            local.get $k
            i32.const 1000
            i32.add
            i32.const 20
            i32.shl
            i32.add
            i64.extend_i32_u
            i64.const 32
            i64.shl
            f64.reinterpret_i64
            local.set $twopk
          end
          local.get $xs
          local.get $t
          f64.const 0x1.555555555553ep-3 (;=0.166667;)
          local.get $t
          f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
          local.get $t
          f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
          local.get $t
          f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
          local.get $t
          f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.sub
          local.set $c
          local.get $k
          i32.eqz
          if $I15
            f64.const 0x1p+0 (;=1;)
            local.get $xs
            local.get $c
            f64.mul
            local.get $c
            f64.const 0x1p+1 (;=2;)
            f64.sub
            f64.div
            local.get $xs
            f64.sub
            f64.sub
            br $B4
          end
          f64.const 0x1p+0 (;=1;)
          local.get $lo
          local.get $xs
          local.get $c
          f64.mul
          f64.const 0x1p+1 (;=2;)
          local.get $c
          f64.sub
          f64.div
          f64.sub
          local.get $hi
          f64.sub
          f64.sub
          local.set $y
          local.get $k
          i32.const -1021
          i32.ge_s
          if $I16
            local.get $k
            i32.const 1024
            i32.eq
            if $I17
              local.get $y
              f64.const 0x1p+1 (;=2;)
              f64.mul
              f64.const 0x1p+1023 (;=8.98847e+307;)
              f64.mul
              br $B4
            end
            local.get $y
            local.get $twopk
            f64.mul
            br $B4
          end
          local.get $y
          local.get $twopk
          f64.mul
          f64.const 0x1p-1000 (;=9.33264e-302;)
          f64.mul
        end
        f64.store
        local.get $x
        i32.const 8
        i32.add
        local.set $x
        local.get $out
        i32.const 8
        i32.add
        local.set $out
        br $L1
      end
    end)
  (func $swiglu_f32 (export "swiglu_f32") (type $t18) (param $gate i32) (param $up i32) (param $n i32)
    (local $end i32) (local $g f64) (local $negG f64) (local $hx i32) (local $xsb i32) (local $k i32) (local $hi f64) (local $lo f64) (local $t f64) (local $c f64) (local $y f64) (local $twopk f64) (local $g2 v128) (local $xv v128) (local $ax v128) (local $neg v128) (local $mid v128) (local $kf v128) (local $hi2 v128) (local $lo2 v128) (local $xr v128) (local $t2 v128) (local $c2 v128)
    local.get $gate
    local.get $n
    i32.const 2
    i32.shl
    i32.add
    local.set $end
    block $B0
      loop $L1
        local.get $gate
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $gate
        i32.const 8
        i32.add
        local.get $end
        i32.le_u
        if $I2
          local.get $gate
          v128.load64_zero align=1
          f64x2.promote_low_f32x4
          local.set $g2
          local.get $g2
          f64x2.neg
          local.set $xv
          local.get $xv
          f64x2.abs
          local.set $ax
          local.get $ax
          f64.const 0x1.62p+9 (;=708;)
          f64x2.splat
          f64x2.lt
          local.get $ax
          f64.const 0x1p-28 (;=3.72529e-09;)
          f64x2.splat
          f64x2.ge
          v128.and
          local.get $xv
          f64.const 0x1p+0 (;=1;)
          f64x2.splat
          f64x2.ne
          v128.and
          i64x2.all_true
          if $I3
            local.get $gate
            local.get $g2
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $xv
            f64.const 0x0p+0 (;=0;)
            f64x2.splat
            f64x2.lt
            local.set $neg
            local.get $ax
            f64.const 0x1.62e43p-2 (;=0.346574;)
            f64x2.splat
            f64x2.ge
            local.set $mid
            f64.const -0x1p+0 (;=-1;)
            f64x2.splat
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $neg
            v128.bitselect
            f64.const 0x1.71547652b82fep+0 (;=1.4427;)
            f64x2.splat
            local.get $xv
            f64x2.mul
            f64.const -0x1p-1 (;=-0.5;)
            f64x2.splat
            f64.const 0x1p-1 (;=0.5;)
            f64x2.splat
            local.get $neg
            v128.bitselect
            f64x2.add
            f64x2.trunc
            local.get $ax
            f64.const 0x1.0a2b2p+0 (;=1.03972;)
            f64x2.splat
            f64x2.lt
            v128.bitselect
            local.set $kf
            local.get $xv
            local.get $kf
            f64.const 0x1.62e42feep-1 (;=0.693147;)
            f64x2.splat
            f64x2.mul
            f64x2.sub
            local.set $hi2
            local.get $kf
            f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
            f64x2.splat
            f64x2.mul
            local.set $lo2
            local.get $hi2
            local.get $lo2
            f64x2.sub
            local.get $xv
            local.get $mid
            v128.bitselect
            local.set $xr
            local.get $xr
            local.get $xr
            f64x2.mul
            local.set $t2
            local.get $xr
            local.get $t2
            f64.const 0x1.555555555553ep-3 (;=0.166667;)
            f64x2.splat
            local.get $t2
            f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
            f64x2.splat
            local.get $t2
            f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
            f64x2.splat
            local.get $t2
            f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
            f64x2.splat
            local.get $t2
            f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
            f64x2.splat
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.add
            f64x2.mul
            f64x2.sub
            local.set $c2
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $lo2
            local.get $xr
            local.get $c2
            f64x2.mul
            f64.const 0x1p+1 (;=2;)
            f64x2.splat
            local.get $c2
            f64x2.sub
            f64x2.div
            f64x2.sub
            local.get $hi2
            f64x2.sub
            f64x2.sub
            local.get $kf
            i32x4.trunc_sat_f64x2_s_zero
            i64x2.extend_low_i32x4_s
            i64.const 1023
            i64x2.splat
            i64x2.add
            i32.const 52
            i64x2.shl
            f64x2.mul
            f64.const 0x1p+0 (;=1;)
            f64x2.splat
            local.get $xr
            local.get $c2
            f64x2.mul
            local.get $c2
            f64.const 0x1p+1 (;=2;)
            f64x2.splat
            f64x2.sub
            f64x2.div
            local.get $xr
            f64x2.sub
            f64x2.sub
            local.get $mid
            v128.bitselect
            f64x2.add
            f64x2.div
            local.get $up
            v128.load64_zero align=1
            f64x2.promote_low_f32x4
            f64x2.mul
            f32x4.demote_f64x2_zero
            v128.store64_lane align=1 0
            local.get $gate
            i32.const 8
            i32.add
            local.set $gate
            local.get $up
            i32.const 8
            i32.add
            local.set $up
            br $L1
          end
        end
        local.get $gate
        f32.load
        f64.promote_f32
        local.set $g
        local.get $gate
        local.get $g
        f64.neg
        local.set $negG
        local.get $g
        f64.const 0x1p+0 (;=1;)
        block $B4 (result f64)
          i32.const 0
          local.set $k
          local.get $negG
          i64.reinterpret_f64
          i64.const 32
          i64.shr_u
          i32.wrap_i64
          local.set $hx
          local.get $hx
          i32.const 31
          i32.shr_u
          local.set $xsb
          local.get $hx
          i32.const 2147483647
          i32.and
          local.set $hx
          local.get $hx
          i32.const 1082535490
          i32.ge_u
          if $I5
            local.get $hx
            i32.const 2146435072
            i32.ge_u
            if $I6
              local.get $negG
              local.get $negG
              f64.ne
              if $I7
                local.get $negG
                local.get $negG
                f64.add
                br $B4
              end
              local.get $negG
              f64.const 0x0p+0 (;=0;)
              local.get $xsb
              i32.eqz
              select
              br $B4
            end
            local.get $negG
            f64.const 0x1.62e42fefa39efp+9 (;=709.783;)
            f64.gt
            if $I8
              f64.const inf (;=inf;)
              br $B4
            end
            local.get $negG
            f64.const -0x1.74910d52d3051p+9 (;=-745.133;)
            f64.lt
            if $I9
              f64.const 0x0p+0 (;=0;)
              br $B4
            end
          end
          local.get $hx
          i32.const 1071001154
          i32.gt_u
          if $I10
            local.get $hx
            i32.const 1072734898
            i32.lt_u
            if $I11
              local.get $negG
              f64.const 0x1p+0 (;=1;)
              f64.eq
              if $I12
                f64.const 0x1.5bf0a8b145769p+1 (;=2.71828;)
                br $B4
              end
              local.get $negG
              f64.const -0x1.62e42feep-1 (;=-0.693147;)
              f64.const 0x1.62e42feep-1 (;=0.693147;)
              local.get $xsb
              select
              f64.sub
              local.set $hi
              f64.const -0x1.a39ef35793c76p-33 (;=-1.90821e-10;)
              f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
              local.get $xsb
              select
              local.set $lo
              i32.const 1
              local.get $xsb
              i32.sub
              local.get $xsb
              i32.sub
              local.set $k
            else
              f64.const 0x1.71547652b82fep+0 (;=1.4427;)
              local.get $negG
              f64.mul
              f64.const -0x1p-1 (;=-0.5;)
              f64.const 0x1p-1 (;=0.5;)
              local.get $xsb
              select
              f64.add
              i32.trunc_f64_s
              local.set $k
              local.get $k
              f64.convert_i32_s
              local.set $t
              local.get $negG
              local.get $t
              f64.const 0x1.62e42feep-1 (;=0.693147;)
              f64.mul
              f64.sub
              local.set $hi
              local.get $t
              f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
              f64.mul
              local.set $lo
            end
            local.get $hi
            local.get $lo
            f64.sub
            local.set $negG
          else
            local.get $hx
            i32.const 1043333120
            i32.lt_u
            if $I13
              f64.const 0x1p+0 (;=1;)
              local.get $negG
              f64.add
              br $B4
            end
          end
          local.get $negG
          local.get $negG
          f64.mul
          local.set $t
          local.get $k
          i32.const -1021
          i32.ge_s
          if $I14
            i32.const 1072693248
            local.get $k
            i32.const 20
            i32.shl
            i32.add
            i64.extend_i32_u
            i64.const 32
            i64.shl
            f64.reinterpret_i64
            local.set $twopk
          else
            i32.const 1072693248
            local.get $k
            i32.const 1000
            i32.add
            i32.const 20
            i32.shl
            i32.add
            i64.extend_i32_u
            i64.const 32
            i64.shl
            f64.reinterpret_i64
            local.set $twopk
          end
          local.get $negG
          local.get $t
          f64.const 0x1.555555555553ep-3 (;=0.166667;)
          local.get $t
          f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
          local.get $t
          f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
          local.get $t
          f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
          local.get $t
          f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.add
          f64.mul
          f64.sub
          local.set $c
          local.get $k
          i32.eqz
          if $I15
            f64.const 0x1p+0 (;=1;)
            local.get $negG
            local.get $c
            f64.mul
            local.get $c
            f64.const 0x1p+1 (;=2;)
            f64.sub
            f64.div
            local.get $negG
            f64.sub
            f64.sub
            br $B4
          end
          f64.const 0x1p+0 (;=1;)
          local.get $lo
          local.get $negG
          local.get $c
          f64.mul
          f64.const 0x1p+1 (;=2;)
          local.get $c
          f64.sub
          f64.div
          f64.sub
          local.get $hi
          f64.sub
          f64.sub
          local.set $y
          local.get $k
          i32.const -1021
          i32.ge_s
          if $I16
            local.get $k
            i32.const 1024
            i32.eq
            if $I17
              local.get $y
              f64.const 0x1p+1 (;=2;)
              f64.mul
              f64.const 0x1p+1023 (;=8.98847e+307;)
              f64.mul
              br $B4
            end
            local.get $y
            local.get $twopk
            f64.mul
            br $B4
          end
          local.get $y
          local.get $twopk
          f64.mul
          f64.const 0x1p-1000 (;=9.33264e-302;)
          f64.mul
        end
        f64.add
        f64.div
        local.get $up
        f32.load
        f64.promote_f32
        f64.mul
        f32.demote_f64
        f32.store
        local.get $gate
        i32.const 4
        i32.add
        local.set $gate
        local.get $up
        i32.const 4
        i32.add
        local.set $up
        br $L1
      end
    end)
  (func $add_f32 (export "add_f32") (type $t19) (param $a i32) (param $b i32) (param $n i32)
    (local $end i32) (local $end4 i32)
    local.get $a
    local.get $n
    i32.const 2
    i32.shl
    i32.add
    local.set $end
    local.get $a
    local.get $n
    i32.const -4
    i32.and
    i32.const 2
    i32.shl
    i32.add
    local.set $end4
    block $B0
      loop $L1
        local.get $a
        local.get $end4
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $a
        local.get $a
        v128.load align=1
        local.get $b
        v128.load align=1
        f32x4.add
        v128.store align=1
        local.get $a
        i32.const 16
        i32.add
        local.set $a
        local.get $b
        i32.const 16
        i32.add
        local.set $b
        br $L1
      end
    end
    block $B2
      loop $L3
        local.get $a
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $a
        local.get $a
        f32.load
        local.get $b
        f32.load
        f32.add
        f32.store
        local.get $a
        i32.const 4
        i32.add
        local.set $a
        local.get $b
        i32.const 4
        i32.add
        local.set $b
        br $L3
      end
    end)
  (func $rmsnorm_f32 (export "rmsnorm_f32") (type $t20) (param $out i32) (param $x i32) (param $w i32) (param $rows i32) (param $dim i32) (param $eps f64)
    (local $r i32) (local $kb i32) (local $rowBytes i32) (local $sum f64) (local $inv f64) (local $v f64)
    local.get $dim
    i32.const 2
    i32.shl
    local.set $rowBytes
    block $B0
      loop $L1
        local.get $r
        local.get $rows
        i32.lt_u
        i32.eqz
        br_if $B0
        f64.const 0x0p+0 (;=0;)
        local.set $sum
        i32.const 0
        local.set $kb
        block $B2
          loop $L3
            local.get $kb
            local.get $rowBytes
            i32.lt_u
            i32.eqz
            br_if $B2
            local.get $x
            local.get $kb
            i32.add
            f32.load
            f64.promote_f32
            local.set $v
            local.get $sum
            local.get $v
            local.get $v
            f64.mul
            f64.add
            local.set $sum
            local.get $kb
            i32.const 4
            i32.add
            local.set $kb
            br $L3
          end
        end
        f64.const 0x1p+0 (;=1;)
        local.get $sum
        local.get $dim
        f64.convert_i32_s
        f64.div
        f32.demote_f64
        f64.promote_f32
        local.get $eps
        f64.add
        f64.sqrt
        f64.div
        local.set $inv
        i32.const 0
        local.set $kb
        block $B4
          loop $L5
            local.get $kb
            local.get $rowBytes
            i32.lt_u
            i32.eqz
            br_if $B4
            local.get $out
            local.get $kb
            i32.add
            local.get $w
            local.get $kb
            i32.add
            f32.load
            f64.promote_f32
            local.get $x
            local.get $kb
            i32.add
            f32.load
            f64.promote_f32
            local.get $inv
            f64.mul
            f32.demote_f64
            f64.promote_f32
            f64.mul
            f32.demote_f64
            f32.store
            local.get $kb
            i32.const 4
            i32.add
            local.set $kb
            br $L5
          end
        end
        local.get $x
        local.get $rowBytes
        i32.add
        local.set $x
        local.get $out
        local.get $rowBytes
        i32.add
        local.set $out
        local.get $r
        i32.const 1
        i32.add
        local.set $r
        br $L1
      end
    end)
  (func $rope_f32 (export "rope_f32") (type $t21) (param $x i32) (param $rows i32) (param $heads i32) (param $headDim i32) (param $cos i32) (param $sin i32)
    (local $r i32) (local $h i32) (local $ib i32) (local $halfBytes i32) (local $half4Bytes i32) (local $lo i32) (local $hi i32) (local $cosAt i32) (local $sinAt i32) (local $a v128) (local $b v128) (local $c v128) (local $s v128) (local $as f32) (local $bs f32) (local $cs f32) (local $ss f32)
    local.get $headDim
    i32.const 1
    i32.shr_u
    local.set $halfBytes
    local.get $halfBytes
    i32.const -4
    i32.and
    i32.const 2
    i32.shl
    local.set $half4Bytes
    local.get $halfBytes
    i32.const 2
    i32.shl
    local.set $halfBytes
    local.get $x
    local.set $lo
    block $B0
      loop $L1
        local.get $r
        local.get $rows
        i32.lt_u
        i32.eqz
        br_if $B0
        i32.const 0
        local.set $h
        block $B2
          loop $L3
            local.get $h
            local.get $heads
            i32.lt_u
            i32.eqz
            br_if $B2
            local.get $lo
            local.get $halfBytes
            i32.add
            local.set $hi
            local.get $cos
            local.set $cosAt
            local.get $sin
            local.set $sinAt
            i32.const 0
            local.set $ib
            block $B4
              loop $L5
                local.get $ib
                local.get $half4Bytes
                i32.lt_u
                i32.eqz
                br_if $B4
                local.get $lo
                local.get $ib
                i32.add
                v128.load align=1
                local.set $a
                local.get $hi
                local.get $ib
                i32.add
                v128.load align=1
                local.set $b
                local.get $cosAt
                local.get $ib
                i32.add
                v128.load align=1
                local.set $c
                local.get $sinAt
                local.get $ib
                i32.add
                v128.load align=1
                local.set $s
                local.get $lo
                local.get $ib
                i32.add
                local.get $a
                local.get $c
                f32x4.mul
                local.get $b
                local.get $s
                f32x4.mul
                f32x4.sub
                v128.store align=1
                local.get $hi
                local.get $ib
                i32.add
                local.get $b
                local.get $c
                f32x4.mul
                local.get $a
                local.get $s
                f32x4.mul
                f32x4.add
                v128.store align=1
                local.get $ib
                i32.const 16
                i32.add
                local.set $ib
                br $L5
              end
            end
            block $B6
              loop $L7
                local.get $ib
                local.get $halfBytes
                i32.lt_u
                i32.eqz
                br_if $B6
                local.get $lo
                local.get $ib
                i32.add
                f32.load
                local.set $as
                local.get $hi
                local.get $ib
                i32.add
                f32.load
                local.set $bs
                local.get $cosAt
                local.get $ib
                i32.add
                f32.load
                local.set $cs
                local.get $sinAt
                local.get $ib
                i32.add
                f32.load
                local.set $ss
                local.get $lo
                local.get $ib
                i32.add
                local.get $as
                local.get $cs
                f32.mul
                local.get $bs
                local.get $ss
                f32.mul
                f32.sub
                f32.store
                local.get $hi
                local.get $ib
                i32.add
                local.get $bs
                local.get $cs
                f32.mul
                local.get $as
                local.get $ss
                f32.mul
                f32.add
                f32.store
                local.get $ib
                i32.const 4
                i32.add
                local.set $ib
                br $L7
              end
            end
            local.get $lo
            local.get $halfBytes
            local.get $halfBytes
            i32.add
            i32.add
            local.set $lo
            local.get $h
            i32.const 1
            i32.add
            local.set $h
            br $L3
          end
        end
        local.get $cos
        local.get $halfBytes
        i32.add
        local.set $cos
        local.get $sin
        local.get $halfBytes
        i32.add
        local.set $sin
        local.get $r
        i32.const 1
        i32.add
        local.set $r
        br $L1
      end
    end)
  (func $kv_write (export "kv_write") (type $t22) (param $kDst i32) (param $vDst i32) (param $k i32) (param $v i32) (param $slots i32) (param $rows i32) (param $kvDim i32)
    (local $r i32) (local $slot i32) (local $rowBytes i32)
    local.get $kvDim
    i32.const 2
    i32.shl
    local.set $rowBytes
    block $B0
      loop $L1
        local.get $r
        local.get $rows
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $slots
        local.get $r
        i32.const 2
        i32.shl
        i32.add
        i32.load
        local.set $slot
        local.get $slot
        i32.const 0
        i32.ge_s
        if $I2
          local.get $kDst
          local.get $slot
          local.get $rowBytes
          i32.mul
          i32.add
          local.get $k
          local.get $r
          local.get $rowBytes
          i32.mul
          i32.add
          local.get $rowBytes
          memory.copy
          local.get $vDst
          local.get $slot
          local.get $rowBytes
          i32.mul
          i32.add
          local.get $v
          local.get $r
          local.get $rowBytes
          i32.mul
          i32.add
          local.get $rowBytes
          memory.copy
        end
        local.get $r
        i32.const 1
        i32.add
        local.set $r
        br $L1
      end
    end)
  (func $softmax_f32 (export "softmax_f32") (type $t23) (param $x i32) (param $rows i32) (param $n i32)
    (local $row i32) (local $p i32) (local $end i32) (local $max f32) (local $maxV v128) (local $sum f64) (local $sumV v128) (local $e v128) (local $xv v128) (local $ax v128) (local $xs f64) (local $es f64) (local $hx i32) (local $xsb i32) (local $k i32) (local $hi f64) (local $lo f64) (local $t f64) (local $c f64) (local $y f64) (local $twopk f64) (local $neg v128) (local $mid v128) (local $kf v128) (local $hi2 v128) (local $lo2 v128) (local $xr v128) (local $t2 v128) (local $c2 v128)
    block $B0
      loop $L1
        local.get $row
        local.get $rows
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $x
        local.get $n
        i32.const 2
        i32.shl
        i32.add
        local.set $end
        f32.const -inf (;=-inf;)
        local.set $max
        local.get $x
        local.set $p
        block $B2
          loop $L3
            local.get $p
            local.get $end
            i32.lt_u
            i32.eqz
            br_if $B2
            local.get $p
            f32.load
            local.get $max
            local.get $p
            f32.load
            local.get $max
            f32.gt
            select
            local.set $max
            local.get $p
            i32.const 4
            i32.add
            local.set $p
            br $L3
          end
        end
        local.get $max
        f64.promote_f32
        f64x2.splat
        local.set $maxV
        f64.const 0x0p+0 (;=0;)
        local.set $sum
        local.get $x
        local.set $p
        block $B4
          loop $L5
            local.get $p
            local.get $end
            i32.lt_u
            i32.eqz
            br_if $B4
            local.get $p
            i32.const 8
            i32.add
            local.get $end
            i32.le_u
            if $I6
              local.get $p
              v128.load64_zero align=1
              f64x2.promote_low_f32x4
              local.get $maxV
              f64x2.sub
              local.set $xv
              local.get $xv
              f64x2.abs
              local.set $ax
              local.get $ax
              f64.const 0x1.62p+9 (;=708;)
              f64x2.splat
              f64x2.lt
              local.get $ax
              f64.const 0x1p-28 (;=3.72529e-09;)
              f64x2.splat
              f64x2.ge
              v128.and
              local.get $xv
              f64.const 0x1p+0 (;=1;)
              f64x2.splat
              f64x2.ne
              v128.and
              i64x2.all_true
              if $I7
                local.get $xv
                f64.const 0x0p+0 (;=0;)
                f64x2.splat
                f64x2.lt
                local.set $neg
                local.get $ax
                f64.const 0x1.62e43p-2 (;=0.346574;)
                f64x2.splat
                f64x2.ge
                local.set $mid
                f64.const -0x1p+0 (;=-1;)
                f64x2.splat
                f64.const 0x1p+0 (;=1;)
                f64x2.splat
                local.get $neg
                v128.bitselect
                f64.const 0x1.71547652b82fep+0 (;=1.4427;)
                f64x2.splat
                local.get $xv
                f64x2.mul
                f64.const -0x1p-1 (;=-0.5;)
                f64x2.splat
                f64.const 0x1p-1 (;=0.5;)
                f64x2.splat
                local.get $neg
                v128.bitselect
                f64x2.add
                f64x2.trunc
                local.get $ax
                f64.const 0x1.0a2b2p+0 (;=1.03972;)
                f64x2.splat
                f64x2.lt
                v128.bitselect
                local.set $kf
                local.get $xv
                local.get $kf
                f64.const 0x1.62e42feep-1 (;=0.693147;)
                f64x2.splat
                f64x2.mul
                f64x2.sub
                local.set $hi2
                local.get $kf
                f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
                f64x2.splat
                f64x2.mul
                local.set $lo2
                local.get $hi2
                local.get $lo2
                f64x2.sub
                local.get $xv
                local.get $mid
                v128.bitselect
                local.set $xr
                local.get $xr
                local.get $xr
                f64x2.mul
                local.set $t2
                local.get $xr
                local.get $t2
                f64.const 0x1.555555555553ep-3 (;=0.166667;)
                f64x2.splat
                local.get $t2
                f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
                f64x2.splat
                local.get $t2
                f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
                f64x2.splat
                local.get $t2
                f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
                f64x2.splat
                local.get $t2
                f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
                f64x2.splat
                f64x2.mul
                f64x2.add
                f64x2.mul
                f64x2.add
                f64x2.mul
                f64x2.add
                f64x2.mul
                f64x2.add
                f64x2.mul
                f64x2.sub
                local.set $c2
                f64.const 0x1p+0 (;=1;)
                f64x2.splat
                local.get $lo2
                local.get $xr
                local.get $c2
                f64x2.mul
                f64.const 0x1p+1 (;=2;)
                f64x2.splat
                local.get $c2
                f64x2.sub
                f64x2.div
                f64x2.sub
                local.get $hi2
                f64x2.sub
                f64x2.sub
                local.get $kf
                i32x4.trunc_sat_f64x2_s_zero
                i64x2.extend_low_i32x4_s
                i64.const 1023
                i64x2.splat
                i64x2.add
                i32.const 52
                i64x2.shl
                f64x2.mul
                f64.const 0x1p+0 (;=1;)
                f64x2.splat
                local.get $xr
                local.get $c2
                f64x2.mul
                local.get $c2
                f64.const 0x1p+1 (;=2;)
                f64x2.splat
                f64x2.sub
                f64x2.div
                local.get $xr
                f64x2.sub
                f64x2.sub
                local.get $mid
                v128.bitselect
                local.set $e
                local.get $p
                local.get $e
                f32x4.demote_f64x2_zero
                v128.store64_lane align=1 0
                local.get $sum
                local.get $e
                f64x2.extract_lane 0
                f64.add
                local.get $e
                f64x2.extract_lane 1
                f64.add
                local.set $sum
                local.get $p
                i32.const 8
                i32.add
                local.set $p
                br $L5
              end
            end
            local.get $p
            f32.load
            f64.promote_f32
            local.get $max
            f64.promote_f32
            f64.sub
            local.set $xs
            block $B8 (result f64)
              i32.const 0
              local.set $k
              local.get $xs
              i64.reinterpret_f64
              i64.const 32
              i64.shr_u
              i32.wrap_i64
              local.set $hx
              local.get $hx
              i32.const 31
              i32.shr_u
              local.set $xsb
              local.get $hx
              i32.const 2147483647
              i32.and
              local.set $hx
              local.get $hx
              i32.const 1082535490
              i32.ge_u
              if $I9
                local.get $hx
                i32.const 2146435072
                i32.ge_u
                if $I10
                  local.get $xs
                  local.get $xs
                  f64.ne
                  if $I11
                    local.get $xs
                    local.get $xs
                    f64.add
                    br $B8
                  end
                  local.get $xs
                  f64.const 0x0p+0 (;=0;)
                  local.get $xsb
                  i32.eqz
                  select
                  br $B8
                end
                local.get $xs
                f64.const 0x1.62e42fefa39efp+9 (;=709.783;)
                f64.gt
                if $I12
                  f64.const inf (;=inf;)
                  br $B8
                end
                local.get $xs
                f64.const -0x1.74910d52d3051p+9 (;=-745.133;)
                f64.lt
                if $I13
                  f64.const 0x0p+0 (;=0;)
                  br $B8
                end
              end
              local.get $hx
              i32.const 1071001154
              i32.gt_u
              if $I14
                local.get $hx
                i32.const 1072734898
                i32.lt_u
                if $I15
                  local.get $xs
                  f64.const 0x1p+0 (;=1;)
                  f64.eq
                  if $I16
                    f64.const 0x1.5bf0a8b145769p+1 (;=2.71828;)
                    br $B8
                  end
                  local.get $xs
                  f64.const -0x1.62e42feep-1 (;=-0.693147;)
                  f64.const 0x1.62e42feep-1 (;=0.693147;)
                  local.get $xsb
                  select
                  f64.sub
                  local.set $hi
                  f64.const -0x1.a39ef35793c76p-33 (;=-1.90821e-10;)
                  f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
                  local.get $xsb
                  select
                  local.set $lo
                  i32.const 1
                  local.get $xsb
                  i32.sub
                  local.get $xsb
                  i32.sub
                  local.set $k
                else
                  f64.const 0x1.71547652b82fep+0 (;=1.4427;)
                  local.get $xs
                  f64.mul
                  f64.const -0x1p-1 (;=-0.5;)
                  f64.const 0x1p-1 (;=0.5;)
                  local.get $xsb
                  select
                  f64.add
                  i32.trunc_f64_s
                  local.set $k
                  local.get $k
                  f64.convert_i32_s
                  local.set $t
                  local.get $xs
                  local.get $t
                  f64.const 0x1.62e42feep-1 (;=0.693147;)
                  f64.mul
                  f64.sub
                  local.set $hi
                  local.get $t
                  f64.const 0x1.a39ef35793c76p-33 (;=1.90821e-10;)
                  f64.mul
                  local.set $lo
                end
                local.get $hi
                local.get $lo
                f64.sub
                local.set $xs
              else
                local.get $hx
                i32.const 1043333120
                i32.lt_u
                if $I17
                  f64.const 0x1p+0 (;=1;)
                  local.get $xs
                  f64.add
                  br $B8
                end
              end
              local.get $xs
              local.get $xs
              f64.mul
              local.set $t
              local.get $k
              i32.const -1021
              i32.ge_s
              if $I18
                i32.const 1072693248
                local.get $k
                i32.const 20
                i32.shl
                i32.add
                i64.extend_i32_u
                i64.const 32
                i64.shl
                f64.reinterpret_i64
                local.set $twopk
              else
                i32.const 1072693248
                local.get $k
                i32.const 1000
                i32.add
                i32.const 20
                i32.shl
                i32.add
                i64.extend_i32_u
                i64.const 32
                i64.shl
                f64.reinterpret_i64
                local.set $twopk
              end
              local.get $xs
              local.get $t
              f64.const 0x1.555555555553ep-3 (;=0.166667;)
              local.get $t
              f64.const -0x1.6c16c16bebd93p-9 (;=-0.00277778;)
              local.get $t
              f64.const 0x1.1566aaf25de2cp-14 (;=6.61376e-05;)
              local.get $t
              f64.const -0x1.bbd41c5d26bf1p-20 (;=-1.65339e-06;)
              local.get $t
              f64.const 0x1.6376972bea4dp-25 (;=4.13814e-08;)
              f64.mul
              f64.add
              f64.mul
              f64.add
              f64.mul
              f64.add
              f64.mul
              f64.add
              f64.mul
              f64.sub
              local.set $c
              local.get $k
              i32.eqz
              if $I19
                f64.const 0x1p+0 (;=1;)
                local.get $xs
                local.get $c
                f64.mul
                local.get $c
                f64.const 0x1p+1 (;=2;)
                f64.sub
                f64.div
                local.get $xs
                f64.sub
                f64.sub
                br $B8
              end
              f64.const 0x1p+0 (;=1;)
              local.get $lo
              local.get $xs
              local.get $c
              f64.mul
              f64.const 0x1p+1 (;=2;)
              local.get $c
              f64.sub
              f64.div
              f64.sub
              local.get $hi
              f64.sub
              f64.sub
              local.set $y
              local.get $k
              i32.const -1021
              i32.ge_s
              if $I20
                local.get $k
                i32.const 1024
                i32.eq
                if $I21
                  local.get $y
                  f64.const 0x1p+1 (;=2;)
                  f64.mul
                  f64.const 0x1p+1023 (;=8.98847e+307;)
                  f64.mul
                  br $B8
                end
                local.get $y
                local.get $twopk
                f64.mul
                br $B8
              end
              local.get $y
              local.get $twopk
              f64.mul
              f64.const 0x1p-1000 (;=9.33264e-302;)
              f64.mul
            end
            local.set $es
            local.get $p
            local.get $es
            f32.demote_f64
            f32.store
            local.get $sum
            local.get $es
            f64.add
            local.set $sum
            local.get $p
            i32.const 4
            i32.add
            local.set $p
            br $L5
          end
        end
        local.get $sum
        f64x2.splat
        local.set $sumV
        local.get $x
        local.set $p
        block $B22
          loop $L23
            local.get $p
            local.get $end
            i32.lt_u
            i32.eqz
            br_if $B22
            local.get $p
            i32.const 8
            i32.add
            local.get $end
            i32.le_u
            if $I24
              local.get $p
              local.get $p
              v128.load64_zero align=1
              f64x2.promote_low_f32x4
              local.get $sumV
              f64x2.div
              f32x4.demote_f64x2_zero
              v128.store64_lane align=1 0
              local.get $p
              i32.const 8
              i32.add
              local.set $p
            else
              local.get $p
              local.get $p
              f32.load
              f64.promote_f32
              local.get $sum
              f64.div
              f32.demote_f64
              f32.store
              local.get $p
              i32.const 4
              i32.add
              local.set $p
            end
            br $L23
          end
        end
        local.get $end
        local.set $x
        local.get $row
        i32.const 1
        i32.add
        local.set $row
        br $L1
      end
    end)
  (func $swiglu_f32_fast (export "swiglu_f32_fast") (type $t24) (param $gate i32) (param $up i32) (param $n i32)
    (local $end i32) (local $vecEnd i32) (local $g v128) (local $x v128) (local $z v128) (local $rounded v128) (local $b v128) (local $u v128) (local $k v128)
    local.get $gate
    local.get $n
    i32.const 2
    i32.shl
    i32.add
    local.set $end
    local.get $gate
    local.get $n
    i32.const -4
    i32.and
    i32.const 2
    i32.shl
    i32.add
    local.set $vecEnd
    block $B0
      loop $L1
        local.get $gate
        local.get $vecEnd
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $gate
        v128.load align=1
        local.set $g
        local.get $gate
        local.get $g
        f32x4.neg
        f32.const -0x1.5cp+6 (;=-87;)
        f32x4.splat
        f32x4.max
        f32.const 0x1.5cp+6 (;=87;)
        f32x4.splat
        f32x4.min
        local.set $x
        local.get $x
        f32.const 0x1.715476p+0 (;=1.4427;)
        f32x4.splat
        f32x4.mul
        f32.const 0x1.8p+23 (;=1.25829e+07;)
        f32x4.splat
        f32x4.add
        local.set $z
        local.get $z
        f32.const 0x1.8p+23 (;=1.25829e+07;)
        f32x4.splat
        f32x4.sub
        local.set $rounded
        local.get $x
        local.get $rounded
        f32.const 0x1.62e4p-1 (;=0.693146;)
        f32x4.splat
        f32x4.mul
        f32x4.sub
        local.get $rounded
        f32.const 0x1.7f7d1cp-20 (;=1.42861e-06;)
        f32x4.splat
        f32x4.mul
        f32x4.sub
        local.set $b
        local.get $z
        i32.const 23
        i32x4.shl
        f32.const 0x1p+0 (;=1;)
        f32x4.splat
        i32x4.add
        local.set $k
        local.get $b
        local.get $b
        f32x4.mul
        local.set $u
        f32.const 0x1.ffffecp-1 (;=0.999999;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32.const 0x1.fffdb6p-2 (;=0.499991;)
        f32x4.splat
        f32.const 0x1.555e66p-3 (;=0.166684;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32x4.add
        f32.const 0x1.573e2ep-5 (;=0.0418998;)
        f32x4.splat
        f32.const 0x1.0e402p-7 (;=0.00824739;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32x4.add
        local.get $u
        f32x4.mul
        f32x4.add
        local.get $u
        f32x4.mul
        f32x4.add
        local.get $k
        f32x4.mul
        local.get $k
        f32x4.add
        f32.const 0x1p+0 (;=1;)
        f32x4.splat
        f32x4.add
        local.set $x
        local.get $g
        local.get $x
        f32x4.div
        local.get $up
        v128.load align=1
        f32x4.mul
        v128.store align=1
        local.get $gate
        i32.const 16
        i32.add
        local.set $gate
        local.get $up
        i32.const 16
        i32.add
        local.set $up
        br $L1
      end
    end
    block $B2
      loop $L3
        local.get $gate
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B2
        local.get $gate
        v128.load32_splat align=1
        local.set $g
        local.get $gate
        local.get $g
        f32x4.neg
        f32.const -0x1.5cp+6 (;=-87;)
        f32x4.splat
        f32x4.max
        f32.const 0x1.5cp+6 (;=87;)
        f32x4.splat
        f32x4.min
        local.set $x
        local.get $x
        f32.const 0x1.715476p+0 (;=1.4427;)
        f32x4.splat
        f32x4.mul
        f32.const 0x1.8p+23 (;=1.25829e+07;)
        f32x4.splat
        f32x4.add
        local.set $z
        local.get $z
        f32.const 0x1.8p+23 (;=1.25829e+07;)
        f32x4.splat
        f32x4.sub
        local.set $rounded
        local.get $x
        local.get $rounded
        f32.const 0x1.62e4p-1 (;=0.693146;)
        f32x4.splat
        f32x4.mul
        f32x4.sub
        local.get $rounded
        f32.const 0x1.7f7d1cp-20 (;=1.42861e-06;)
        f32x4.splat
        f32x4.mul
        f32x4.sub
        local.set $b
        local.get $z
        i32.const 23
        i32x4.shl
        f32.const 0x1p+0 (;=1;)
        f32x4.splat
        i32x4.add
        local.set $k
        local.get $b
        local.get $b
        f32x4.mul
        local.set $u
        f32.const 0x1.ffffecp-1 (;=0.999999;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32.const 0x1.fffdb6p-2 (;=0.499991;)
        f32x4.splat
        f32.const 0x1.555e66p-3 (;=0.166684;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32x4.add
        f32.const 0x1.573e2ep-5 (;=0.0418998;)
        f32x4.splat
        f32.const 0x1.0e402p-7 (;=0.00824739;)
        f32x4.splat
        local.get $b
        f32x4.mul
        f32x4.add
        local.get $u
        f32x4.mul
        f32x4.add
        local.get $u
        f32x4.mul
        f32x4.add
        local.get $k
        f32x4.mul
        local.get $k
        f32x4.add
        f32.const 0x1p+0 (;=1;)
        f32x4.splat
        f32x4.add
        local.set $x
        local.get $g
        local.get $x
        f32x4.div
        local.get $up
        v128.load32_splat align=1
        f32x4.mul
        v128.store32_lane 0
        local.get $gate
        i32.const 4
        i32.add
        local.set $gate
        local.get $up
        i32.const 4
        i32.add
        local.set $up
        br $L3
      end
    end)
  (func $argmax_f32 (export "argmax_f32") (type $t25) (param $x i32) (param $n i32) (result i32)
    (local $p i32) (local $end4 i32) (local $end i32) (local $i i32) (local $bestIndex i32) (local $bestValue f32) (local $laneIndex i32) (local $laneValue f32) (local $best v128) (local $bestAt v128) (local $at v128) (local $v v128) (local $greater v128)
    local.get $x
    v128.load32_splat align=1
    local.set $best
    v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
    local.set $bestAt
    v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000
    i32.const 1
    i32x4.replace_lane 1
    i32.const 2
    i32x4.replace_lane 2
    i32.const 3
    i32x4.replace_lane 3
    local.set $at
    local.get $x
    local.set $p
    local.get $n
    i32.const -4
    i32.and
    local.set $i
    local.get $x
    local.get $i
    i32.const 2
    i32.shl
    i32.add
    local.set $end4
    local.get $x
    local.get $n
    i32.const 2
    i32.shl
    i32.add
    local.set $end
    block $B0
      loop $L1
        local.get $p
        local.get $end4
        i32.lt_u
        i32.eqz
        br_if $B0
        local.get $p
        v128.load align=1
        local.set $v
        local.get $v
        local.get $best
        f32x4.gt
        local.set $greater
        local.get $v
        local.get $best
        local.get $greater
        v128.bitselect
        local.set $best
        local.get $at
        local.get $bestAt
        local.get $greater
        v128.bitselect
        local.set $bestAt
        local.get $at
        i32.const 4
        i32x4.splat
        i32x4.add
        local.set $at
        local.get $p
        i32.const 16
        i32.add
        local.set $p
        br $L1
      end
    end
    local.get $best
    f32x4.extract_lane 0
    local.set $bestValue
    local.get $bestAt
    i32x4.extract_lane 0
    local.set $bestIndex
    local.get $best
    f32x4.extract_lane 1
    local.set $laneValue
    local.get $bestAt
    i32x4.extract_lane 1
    local.set $laneIndex
    local.get $laneValue
    local.get $bestValue
    f32.gt
    local.get $laneValue
    local.get $bestValue
    f32.eq
    local.get $laneIndex
    local.get $bestIndex
    i32.lt_u
    i32.and
    i32.or
    if $I2
      local.get $laneValue
      local.set $bestValue
      local.get $laneIndex
      local.set $bestIndex
    end
    local.get $best
    f32x4.extract_lane 2
    local.set $laneValue
    local.get $bestAt
    i32x4.extract_lane 2
    local.set $laneIndex
    local.get $laneValue
    local.get $bestValue
    f32.gt
    local.get $laneValue
    local.get $bestValue
    f32.eq
    local.get $laneIndex
    local.get $bestIndex
    i32.lt_u
    i32.and
    i32.or
    if $I3
      local.get $laneValue
      local.set $bestValue
      local.get $laneIndex
      local.set $bestIndex
    end
    local.get $best
    f32x4.extract_lane 3
    local.set $laneValue
    local.get $bestAt
    i32x4.extract_lane 3
    local.set $laneIndex
    local.get $laneValue
    local.get $bestValue
    f32.gt
    local.get $laneValue
    local.get $bestValue
    f32.eq
    local.get $laneIndex
    local.get $bestIndex
    i32.lt_u
    i32.and
    i32.or
    if $I4
      local.get $laneValue
      local.set $bestValue
      local.get $laneIndex
      local.set $bestIndex
    end
    block $B5
      loop $L6
        local.get $p
        local.get $end
        i32.lt_u
        i32.eqz
        br_if $B5
        local.get $p
        f32.load
        local.set $laneValue
        local.get $laneValue
        local.get $bestValue
        f32.gt
        if $I7
          local.get $laneValue
          local.set $bestValue
          local.get $i
          local.set $bestIndex
        end
        local.get $p
        i32.const 4
        i32.add
        local.set $p
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $L6
      end
    end
    local.get $bestIndex))
